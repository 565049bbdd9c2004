/**
 * Secret redaction of what blocks write out (log lines, error messages). It replaces the exact value
 * of every secret of 4 or more characters, and in JSON text its JSON-escaped form, with `[secret]`;
 * nothing derived from a secret (reversed, spaced, re-encoded, a part of it) is recognised.
 */

/** Secrets shorter than this are not redacted: replacing every "1" or "ab" would garble all text. */
export const MIN_REDACTED_SECRET = 4;

const MARK = '[secret]';

/** Replaces every secret value in `text` with `[secret]` (also JSON-escaped forms when `json`). */
export function redact(text: string, secrets: Readonly<Record<string, string>>, json = false): string {
  let out = text;
  for (const form of forms(secrets, json)) out = out.split(form).join(MARK);
  return out;
}

/**
 * Redacts a piece of text the isolate cut from a longer one (`fullLength` characters), then cuts it
 * to `cap` characters with a `…[cut: N chars]` marker when the whole was longer. A secret the
 * isolate's cut went through would leave its head at the piece's end: that head is redacted too.
 */
export function redactCut(
  piece: string,
  fullLength: number,
  cap: number,
  secrets: Readonly<Record<string, string>>,
  json: boolean,
): string {
  const full = Number.isSafeInteger(fullLength) && fullLength > piece.length ? fullLength : piece.length;
  let text = redact(piece, secrets, json);
  if (full > piece.length) text = redactTail(text, secrets, json);
  if (full <= cap && text.length <= cap) return text;
  return `${text.slice(0, cap)}…[cut: ${full} chars]`;
}

/** Replaces a trailing beginning of a secret (what a cut through it leaves) with `[secret]`. */
function redactTail(text: string, secrets: Readonly<Record<string, string>>, json: boolean): string {
  for (const form of forms(secrets, json)) {
    for (let k = Math.min(form.length - 1, text.length); k > 0; k--) {
      if (text.endsWith(form.slice(0, k))) return `${text.slice(0, text.length - k)}${MARK}`;
    }
  }
  return text;
}

function forms(secrets: Readonly<Record<string, string>>, json: boolean): string[] {
  const out: string[] = [];
  for (const v of Object.values(secrets)) {
    if (v.length < MIN_REDACTED_SECRET) continue;
    out.push(v);
    if (json) {
      const escaped = JSON.stringify(v).slice(1, -1);
      if (escaped !== v) out.push(escaped);
    }
  }
  return out;
}
