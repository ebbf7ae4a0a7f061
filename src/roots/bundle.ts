// Loads one of tend's bundles (dist/<mode>.cjs, scripts/build.mjs) like require(), with the
// V8 code cache the build made beside it.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { basename, dirname } from 'node:path';
import { Script } from 'node:vm';

/**
 * require() for one of tend's bundles, with the V8 code cache the build made beside it
 * (`<bundle>.cache`): compiling the supervisor's bundle is a third of tend's start-up.
 * Without a cache, or with one V8 rejects (another Node version), it compiles as usual.
 * The build sets TEND_BUILD_CODE_CACHE on training runs of each mode: the cache is then
 * written at exit, when it holds every function the run compiled (scripts/build.mjs).
 */
export function loadBundle(file: string): unknown {
  const cacheFile = `${file}.cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  // The script's name is written into the code cache. An absolute path would be the build
  // machine's (a relocatable package must carry none): the name is the bundle's place in
  // the package instead — it is only what stack traces show; __filename stays absolute.
  // Made from bytes: a name sliced out of `file` would be serialized with all of `file`.
  const name = Buffer.from(`tend/dist/${basename(file)}`).toString('utf8');
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: name, cachedData });
  if (process.env.TEND_BUILD_CODE_CACHE === '1') {
    process.once('exit', () => {
      try {
        // Whole or not at all: another tend may be loading this cache right now.
        const temporary = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(temporary, script.createCachedData());
        renameSync(temporary, cacheFile);
      } catch {
        // a read-only dist/: the build warns about thin caches; a run must not fail at exit
      }
    });
  }
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  const module = { exports: {} as unknown };
  wrapper.call(module.exports, module.exports, Module.createRequire(file), module, file, dirname(file));
  return module.exports;
}
