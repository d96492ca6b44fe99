/**
 * Duplicate keys in a JSON text. `JSON.parse` keeps the last of two equal keys without a word, so a
 * log line that carries a binding twice (`"part":"topology"` bound by two child loggers) parses
 * fine and only a scan of the raw keys shows it; log pipelines differ on which value wins.
 */

/** Each key that appears twice in one object of `text` (any depth), as `path.key`. */
export function duplicateKeys(text: string): string[] {
  const out: string[] = [];
  // One frame per open object or array: an object's keys so far, and whether a key comes next.
  const stack: Array<{ keys: Set<string> | null; expectKey: boolean; path: string }> = [];
  let lastKey = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      let j = i + 1;
      let s = "";
      while (j < text.length && text[j] !== '"') {
        if (text[j] === "\\") {
          s += text.slice(j, j + 2);
          j += 2;
        } else s += text[j++];
      }
      if (top?.keys && top.expectKey) {
        if (top.keys.has(s)) out.push(top.path + s);
        top.keys.add(s);
        top.expectKey = false;
        lastKey = s;
      }
      i = j;
    } else if (c === "{" || c === "[") {
      const path = top === undefined ? "" : `${top.path}${top.keys ? lastKey : "[]"}.`;
      stack.push({ keys: c === "{" ? new Set() : null, expectKey: c === "{", path });
    } else if (c === "}" || c === "]") stack.pop();
    else if (c === "," && top?.keys) top.expectKey = true;
  }
  return out;
}
