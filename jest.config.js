/** Unit, infra and integration tests are separate projects; integration talks to a local AWS on loopback. */
const base = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.[tj]s$': [
      'ts-jest',
      {
        tsconfig: { allowJs: true, module: 'commonjs', moduleResolution: 'node10', isolatedModules: true },
        diagnostics: false,
      },
    ],
  },
  // middy ships ESM only; let ts-jest turn it into CommonJS for jest's module loader.
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  setupFilesAfterEnv: ['aws-sdk-client-mock-jest'],
};

module.exports = {
  // Jest's 5 s default fails tests on a busy 2-core machine for its load, not for their behaviour (the sweep test on
  // CI). Speed is measured by `npm run bench`, not by timeouts. Some unit tests run the CLI as a process (tsx
  // compiles it: 3 s under load) or a few thousand property runs; the local and integration tests use a live server.
  // Top level: jest takes testTimeout from the global config only, a project's own is ignored.
  testTimeout: 60_000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/{shared,functions,cli,bench}/**/*.test.ts'] },
    { ...base, displayName: 'infra', testMatch: ['<rootDir>/test/infra/**/*.test.ts'] },
    // The local AWS itself: each file starts and stops its own moto server.
    { ...base, displayName: 'local', testMatch: ['<rootDir>/test/local/**/*.test.ts'] },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
    },
  ],
};
