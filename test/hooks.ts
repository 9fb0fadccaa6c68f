import { disposeEngines, RUN_SEED } from './helpers.js';

/** Root hooks: print the seed once; release every engine so the process exits on its own. */
export const mochaHooks = {
  beforeAll(): void {
    console.log(`  random seed ${RUN_SEED} (set TOK1D_TEST_SEED to reproduce)`);
  },
  async afterAll(): Promise<void> {
    await disposeEngines();
  },
};
