export async function runScaleBench(): Promise<void> {}
