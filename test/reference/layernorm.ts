/** The float64 references live in src/check/layernorm.ts (doctor runs their self-tests); re-exported here for the tests. */
export * from '../../src/check/layernorm.js';
