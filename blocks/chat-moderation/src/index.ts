import { defineBlock, type BeforePublishResult, type JsonValue } from '@tributary/block';

/** Configuration of chat-moderation (block.json `config`). */
export interface ChatModerationConfig {
  /** Words masked with asterisks. @defaultValue {@link DEFAULT_BANNED} */
  banned: string[];
  /** Words that make the whole message rejected. @defaultValue [] */
  blocked: string[];
}

/** Banned words when the config names none. */
export const DEFAULT_BANNED: readonly string[] = Object.freeze(['damn', 'hell', 'crap']);

/** A compiled word list: one case-insensitive, whole-word regular expression, or none when empty. */
type WordMatcher = RegExp | undefined;

// Whole word: not preceded or followed by a letter, digit or underscore of any script.
const BEFORE = '(?<![\\p{L}\\p{N}_])';
const AFTER = '(?![\\p{L}\\p{N}_])';

function wordList(field: string, value: JsonValue | undefined, fallback: readonly string[]): string[] {
  if (value === undefined) return [...fallback];
  if (!Array.isArray(value) || !value.every((w): w is string => typeof w === 'string' && w.trim() !== '')) {
    throw new TypeError(`config.${field} must be a list of non-empty strings, got ${JSON.stringify(value)}`);
  }
  return value.map((w) => w.trim());
}

/** Validates the block's config, naming the bad field. */
export function resolveChatModerationConfig(config: Readonly<Record<string, JsonValue>>): ChatModerationConfig {
  return { banned: wordList('banned', config.banned, DEFAULT_BANNED), blocked: wordList('blocked', config.blocked, []) };
}

function compile(words: readonly string[]): WordMatcher {
  if (words.length === 0) return undefined;
  // Longest first, so "hell fire" wins over "hell" where both are listed.
  const alternatives = [...words].sort((a, b) => b.length - a.length).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`${BEFORE}(?:${alternatives.join('|')})${AFTER}`, 'giu');
}

// The isolate outlives one invocation; compiling the lists once per config keeps the publish path quick.
let cached: { key: string; banned: WordMatcher; blocked: WordMatcher } | undefined;

function matchers(config: Readonly<Record<string, JsonValue>>): { banned: WordMatcher; blocked: WordMatcher } {
  const resolved = resolveChatModerationConfig(config);
  const key = JSON.stringify(resolved);
  if (cached?.key !== key) cached = { key, banned: compile(resolved.banned), blocked: compile(resolved.blocked) };
  return cached;
}

/**
 * Moderates a chat message `{ text, user? }`: rejects it when `text` is not a string or contains a
 * blocked word, masks banned words with one asterisk per character, and otherwise lets it through
 * unchanged. Matching is case-insensitive and whole-word.
 */
export function moderate(data: JsonValue, config: Readonly<Record<string, JsonValue>>): BeforePublishResult {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { reject: 'a chat message is an object { text, user? }' };
  const text = data.text;
  if (typeof text !== 'string') return { reject: 'text must be a string' };
  if (data.user !== undefined && typeof data.user !== 'string') return { reject: 'user must be a string' };
  const { banned, blocked } = matchers(config);
  if (blocked !== undefined) {
    blocked.lastIndex = 0;
    const hit = blocked.exec(text);
    if (hit !== null) return { reject: `message contains a blocked word (${JSON.stringify(hit[0])})` };
  }
  if (banned === undefined) return undefined;
  const masked = text.replace(banned, (word) => '*'.repeat([...word].length));
  return masked === text ? undefined : { data: { ...data, text: masked } };
}

export default defineBlock({
  name: 'chat-moderation',
  trigger: { beforePublish: 'chat.>' },
  handle(msg, ctx) {
    return moderate(msg.data, ctx.config);
  },
});
