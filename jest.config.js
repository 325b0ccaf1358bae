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
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/{shared,functions,cli,bench}/**/*.test.ts'] },
    { ...base, displayName: 'infra', testMatch: ['<rootDir>/test/infra/**/*.test.ts'] },
    // The local AWS itself: each file starts and stops its own moto server.
    // Tests against a live server on a busy 2-core machine: jest's 5 s default fails them on load, not on behaviour.
    // Speed is measured by `npm run bench`, not by timeouts.
    { ...base, displayName: 'local', testMatch: ['<rootDir>/test/local/**/*.test.ts'], testTimeout: 60_000 },
    {
      ...base,
      displayName: 'integration',
      testTimeout: 60_000,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
    },
  ],
};
