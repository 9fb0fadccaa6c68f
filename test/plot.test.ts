/** The training loss chart (src/train/plot.ts): its data and the PNG Vega and sharp make of it. */
import { expect } from 'chai';
import { decodeImage } from '../src/io/image.js';
import { lossPlotSpec, plotLossCurves } from '../src/train/plot.js';

describe('loss chart', function () {
  this.timeout(60_000);
  const series = [
    { label: 'train mse', points: Array.from({ length: 50 }, (_, i) => ({ x: (i + 1) * 10, y: 0.3 * Math.exp(-i / 15) + 0.01 })) },
    { label: 'val mse', points: [{ x: 100, y: 0.2 }, { x: 300, y: 0.05 }, { x: 500, y: 0 }, { x: 500, y: NaN }] },
  ];

  it('keeps the points a log axis can show, by series, in order', () => {
    const values = (lossPlotSpec(series, 'mse') as { data: { values: { step: number; value: number; series: string }[] } }).data.values;
    expect(values.filter((v) => v.series === 'train mse')).to.have.length(50);
    expect(values.filter((v) => v.series === 'val mse').map((v) => v.step)).to.deep.equal([100, 300]);
  });

  it('renders a PNG with both series drawn in their own colours', async () => {
    const img = decodeImage(await plotLossCurves(series, 'reconstruction mse (log scale)'));
    expect(img.width).to.be.greaterThan(1000); // 640 px of plot at 144 dpi, plus axes and legend
    const hues = new Set<string>();
    for (let p = 0; p < img.width * img.height; p++) {
      const [r, g, b] = [img.rgb[3 * p]!, img.rgb[3 * p + 1]!, img.rgb[3 * p + 2]!];
      if (b > r + 60 && b > g + 20) hues.add('blue');
      if (r > b + 100 && r > g + 40) hues.add('orange');
    }
    expect([...hues].sort()).to.deep.equal(['blue', 'orange']);
  });
});
