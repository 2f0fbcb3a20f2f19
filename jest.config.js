/** Three projects: unit tests beside the code, integration and end-to-end suites under test/. */
const base = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testEnvironment: 'node',
};

module.exports = {
  projects: [
    { ...base, displayName: 'unit', rootDir: 'src', testRegex: '.*\\.spec\\.ts$' },
    { ...base, displayName: 'integration', rootDir: 'test', testRegex: '.*\\.int-spec\\.ts$' },
    { ...base, displayName: 'e2e', rootDir: 'test', testRegex: '.*\\.e2e-spec\\.ts$' },
  ],
  testTimeout: 60000,
  // A handle a suite leaves open must not hold the run (and CI) after the
  // last result; the teardown names it so it can be closed where it opens.
  globalTeardown: '<rootDir>/test/report-open-handles.js',
  forceExit: true,
};
