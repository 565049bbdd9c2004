/**
 * `text` with its control characters (C0 but tab and newline, DEL, C1) written as `\uXXXX`. A
 * block's error message or log line may hold a device's text, and a terminal acts on what it is
 * given: ESC sequences retitle the window, clear the screen or write to the clipboard, a carriage
 * return overwrites the line. What the CLI prints of it must only ever be read.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
