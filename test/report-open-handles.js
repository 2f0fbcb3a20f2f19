/**
 * Jest global teardown: names what is still keeping the process alive once
 * every suite has finished. With two cores Jest runs the suites in its own
 * process, so a timer or socket a suite forgot would hold `npm test` open
 * after the last result (seen once in CI, with no socket or child left);
 * `forceExit` ends the run, and this line says what to go and close.
 */
module.exports = async () => {
  // Give sockets a suite closed in its last afterAll a moment to finish closing.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const expected = new Set(['TTYWrap', 'PipeWrap', 'FSReqCallback']);
  const left = process.getActiveResourcesInfo().filter((kind) => !expected.has(kind));
  if (left.length > 0) {
    const counts = {};
    for (const kind of left) counts[kind] = (counts[kind] ?? 0) + 1;
    console.warn(`open handles after the last suite: ${JSON.stringify(counts)}`);
  }
};
