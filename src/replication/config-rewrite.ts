/**
 * Rewriting the config file after a promotion, as text: only the values that change are
 * replaced, so the rest of the file — key order, spacing, one-line objects — stays as the operator
 * wrote it (JSON has no comments to keep).
 *
 * - `primary` takes the former secondary's whole entry (address, service account, TLS), copied
 *   from the file as written.
 * - `secondary` keeps that same entry: the schema requires a secondary, and the dead primary must
 *   not be used again. pairgate then checks one server twice; it serves read/write while that
 *   server is up and has no fallback until a new secondary is set up and written here.
 * - `lab` is removed: a lab is a pair on two ports, which a promoted config no longer describes.
 */

interface Member {
  key: string;
  keyStart: number;
  valueStart: number;
  valueEnd: number;
}

const isWs = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\r";

function skipWs(text: string, i: number): number {
  while (i < text.length && isWs(text[i])) i++;
  return i;
}

function skipString(text: string, i: number): number {
  // text[i] is the opening quote
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === "\\") j++;
    else if (text[j] === '"') return j + 1;
  }
  throw new Error("unterminated string");
}

function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === "{" || c === "[") {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text[j];
      if (d === '"') {
        j = skipString(text, j) - 1;
      } else if (d === "{" || d === "[") depth++;
      else if (d === "}" || d === "]") {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new Error("unbalanced brackets");
  }
  let j = i;
  while (j < text.length && !isWs(text[j]) && text[j] !== "," && text[j] !== "}" && text[j] !== "]") j++;
  return j;
}

/** The top-level members of a JSON object text, with the offsets of their keys and values. */
export function topLevelMembers(text: string): Member[] {
  JSON.parse(text); // valid JSON first: the scanner below trusts it
  const members: Member[] = [];
  let i = skipWs(text, text.charCodeAt(0) === 0xfeff ? 1 : 0);
  if (text[i] !== "{") throw new Error("the config is not a JSON object");
  i = skipWs(text, i + 1);
  while (text[i] !== "}") {
    const keyStart = i;
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(keyStart, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    i = skipWs(text, i + 1); // ':'
    const valueStart = i;
    const valueEnd = skipValue(text, i);
    members.push({ key, keyStart, valueStart, valueEnd });
    i = skipWs(text, valueEnd);
    if (text[i] === ",") i = skipWs(text, i + 1);
  }
  return members;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/** The span that removes a member with its comma, and its line when it had one to itself. */
function removal(text: string, m: Member): Edit {
  let start = m.keyStart;
  let end = m.valueEnd;
  const after = skipWs(text, end);
  if (text[after] === ",") {
    end = after + 1;
    const lineStart = text.lastIndexOf("\n", start - 1) + 1;
    let k = end;
    while (text[k] === " " || text[k] === "\t" || text[k] === "\r") k++;
    if (/^[ \t]*$/.test(text.slice(lineStart, start)) && text[k] === "\n") {
      start = lineStart;
      end = k + 1;
    } else {
      end = skipWs(text, end);
    }
  } else {
    let i = start - 1;
    while (i >= 0 && isWs(text[i])) i--;
    if (text[i] === ",") start = i;
  }
  return { start, end, text: "" };
}

export interface PromotedConfig {
  text: string;
  /** False when the file already named one server as both (promoted before). */
  changed: boolean;
  removedLab: boolean;
}

export function promoteConfigText(text: string): PromotedConfig {
  const members = topLevelMembers(text);
  const get = (k: string) => members.find((m) => m.key === k);
  const primary = get("primary");
  const secondary = get("secondary");
  if (!primary || !secondary) throw new Error("the config has no primary or no secondary");
  const secondaryText = text.slice(secondary.valueStart, secondary.valueEnd);
  const edits: Edit[] = [];
  const primaryText = text.slice(primary.valueStart, primary.valueEnd);
  const same = JSON.stringify(JSON.parse(primaryText)) === JSON.stringify(JSON.parse(secondaryText));
  if (!same) edits.push({ start: primary.valueStart, end: primary.valueEnd, text: secondaryText });
  const lab = get("lab");
  if (lab) edits.push(removal(text, lab));
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start))
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return { text: out, changed: edits.length > 0, removedLab: lab !== undefined };
}
