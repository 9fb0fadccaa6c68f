/** The float64 references live in src/check/gelu.ts (doctor runs their self-tests); re-exported here for the tests. */
export * from '../../src/check/gelu.js';
