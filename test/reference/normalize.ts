/** The float64 references live in src/check/normalize.ts (doctor runs their self-tests); re-exported here for the tests. */
export * from '../../src/check/normalize.js';
