/**
 * Child process of the registry bench: creates and holds (flock) the sentinel files of
 * the pre-filled services.json rows, as the processes owning those rows would. Then a
 * listing judges each row as it does in real use (open, try-lock, close: 'held'), not
 * from this bench's own in-process table of held sentinels, which would skip the probe.
 *
 * Protocol (IPC): the parent sends { files: string[] }; the child answers { held: n }
 * or { error }, and exits when the parent disconnects (the OS drops the locks).
 */
import fs from 'node:fs';
import path from 'node:path';

interface FlockModule {
  flockSync(fd: number, flags: 'exnb'): number;
}

async function hold(files: readonly string[]): Promise<number> {
  const name: string = 'fs-ext-extra-prebuilt'; // a variable: no compile-time dependency on the optional module
  const mod = (await import(name)) as { default?: FlockModule } & Partial<FlockModule>;
  const ext = (mod.default ?? mod) as FlockModule;
  for (const file of files) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    ext.flockSync(fd, 'exnb'); // kept open: the lock lives as long as this process
  }
  return files.length;
}

process.on('message', (message: { files?: string[] }) => {
  hold(message.files ?? []).then(
    (held) => process.send?.({ held }),
    (err: unknown) => process.send?.({ error: String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
