import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The version in package.json (two levels up from src/common and dist/common alike). */
export const APP_VERSION: string = (
  JSON.parse(readFileSync(resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;
