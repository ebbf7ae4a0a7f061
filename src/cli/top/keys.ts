// Bytes from a terminal in raw mode → keys. One read can hold several keys (typed fast,
// or pasted); escape sequences are the common xterm/VT220 ones every emulator sends.

export type Key =
  | { readonly name: 'char'; readonly char: string }
  | {
      readonly name:
        | 'up' | 'down' | 'left' | 'right' | 'home' | 'end' | 'pageup' | 'pagedown'
        | 'enter' | 'escape' | 'backspace' | 'tab' | 'ctrl-c' | 'ctrl-d' | 'ctrl-l' | 'ctrl-z' | 'unknown';
    };

type Named = Exclude<Key, { name: 'char' }>['name'];

/** CSI/SS3 finals and `ESC [ n ~` numbers. */
const FINALS: Readonly<Record<string, Named>> = { A: 'up', B: 'down', C: 'right', D: 'left', H: 'home', F: 'end' };
const TILDES: Readonly<Record<string, Named>> = { 1: 'home', 7: 'home', 4: 'end', 8: 'end', 5: 'pageup', 6: 'pagedown' };

const CONTROLS: Readonly<Record<number, Named>> = {
  0x03: 'ctrl-c', 0x04: 'ctrl-d', 0x0c: 'ctrl-l', 0x1a: 'ctrl-z', 0x09: 'tab',
  0x0d: 'enter', 0x0a: 'enter', 0x7f: 'backspace', 0x08: 'backspace',
};

/** Parses one read. A lone ESC (nothing after it in the same read) is the Escape key. */
export function parseKeys(text: string): Key[] {
  const keys: Key[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const code = c.charCodeAt(0);
    if (c === '\x1b') {
      const next = text[i + 1];
      if (next === '[' || next === 'O') {
        // CSI: parameters (digits, ';') then one final byte in 0x40..0x7e.
        let j = i + 2;
        while (j < text.length && /[0-9;?]/.test(text[j]!)) j++;
        const final = text[j];
        if (final === undefined) {
          keys.push({ name: 'unknown' });
          break;
        }
        const params = text.slice(i + 2, j);
        const first = params.split(';')[0] ?? '';
        const name = final === '~' ? TILDES[first] : FINALS[final];
        keys.push({ name: name ?? 'unknown' });
        i = j + 1;
        continue;
      }
      if (next === undefined || next === '\x1b') {
        keys.push({ name: 'escape' });
        i += 1;
        continue;
      }
      // Alt+key arrives as ESC then the key: read it as that key.
      i += 1;
      continue;
    }
    const control = CONTROLS[code];
    if (control !== undefined) {
      // \r\n from a terminal that sends both is one Enter.
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      keys.push({ name: control });
      i += 1;
      continue;
    }
    if (code < 0x20) {
      keys.push({ name: 'unknown' });
      i += 1;
      continue;
    }
    // One code point (a surrogate pair counts as one).
    const point = text.codePointAt(i)!;
    const char = String.fromCodePoint(point);
    keys.push({ name: 'char', char });
    i += char.length;
  }
  return keys;
}
