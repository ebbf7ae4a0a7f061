'use strict';
// Preloaded (--require) by scripts/snapshot.mjs into a Node started from a freshly made
// start-up snapshot: prints, as JSON, Node's built-in modules the snapshot has already
// loaded, and exits before the snapshot's main function (tend) runs. It is also the check
// that Node starts from the blob at all.
process.stdout.write(JSON.stringify(process.moduleLoadList.filter((entry) => entry.startsWith('NativeModule ')).map((entry) => entry.slice('NativeModule '.length))));
process.reallyExit(0);
