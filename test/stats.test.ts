import { expect } from 'chai';
import { median, relL2 } from '../src/util/stats.js';

describe('stats', () => {
  it('median: the middle value; the mean of the two middle ones for an even count; order does not matter', () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(median([7])).to.equal(7);
    expect(median([])).to.be.NaN;
    const xs = [5, 9, 1];
    median(xs);
    expect(xs, 'the input is not sorted in place').to.deep.equal([5, 9, 1]);
  });

  it('relL2: ‖a − b‖ / ‖b‖, absolute against zeros, Infinity for a short or non-finite actual', () => {
    expect(relL2([3, 4], [3, 4])).to.equal(0);
    expect(relL2([3, 4.5], [3, 4])).to.be.closeTo(0.5 / 5, 1e-15);
    expect(relL2([0.3, 0.4], [0, 0])).to.be.closeTo(0.5, 1e-15);
    expect(relL2([1], [1, 2])).to.equal(Infinity);
    expect(relL2([1, Number.NaN], [1, 2])).to.equal(Infinity);
    expect(relL2([1, 2, 99], [1, 2]), 'values past expected are not compared').to.equal(0);
  });
});
