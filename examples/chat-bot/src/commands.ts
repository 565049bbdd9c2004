/** A parsed chat command: `/name args…`. */
export type Command = { name: string; args: string };

/** The command in a chat message's text, or undefined when the text is not one. */
export function parseCommand(text: string): Command | undefined {
  const m = /^\/([a-z]+)(?:\s+(.*))?$/is.exec(text.trim());
  if (m === null) return undefined;
  return { name: (m[1] ?? '').toLowerCase(), args: (m[2] ?? '').trim() };
}

/** Today's weather, from a fixed table: the example must not depend on the network. */
export const WEATHER: Readonly<Record<string, { celsius: number; sky: string }>> = {
  paris: { celsius: 18, sky: 'cloudy' },
  london: { celsius: 14, sky: 'light rain' },
  tokyo: { celsius: 22, sky: 'sunny' },
  'new york': { celsius: 20, sky: 'windy' },
  sydney: { celsius: 25, sky: 'clear' },
  cairo: { celsius: 34, sky: 'hot and dry' },
  reykjavik: { celsius: 4, sky: 'snow showers' },
};

/** The answer to `/weather <city>`. */
export function weather(city: string): string {
  const key = city.trim().toLowerCase().replace(/\s+/g, ' ');
  if (key === '') return `usage: /weather <city> (I know ${knownCities()})`;
  const w = WEATHER[key];
  if (w === undefined) return `I don't know the weather in ${city.trim()}; try ${knownCities()}`;
  return `${titleCase(key)}: ${w.celsius} °C, ${w.sky}`;
}

/** The answer to `/stats`: rooms in name order. */
export function formatStats(counts: ReadonlyMap<string, number>): string {
  if (counts.size === 0) return 'no messages counted yet';
  const rooms = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `messages per room: ${rooms.map(([room, n]) => `${room}: ${n}`).join(', ')}`;
}

/** The answer to `/help` and to an unknown command. */
export const HELP = 'commands: /weather <city>, /stats (messages per room), /who (who is here), /help';

function knownCities(): string {
  return Object.keys(WEATHER).map(titleCase).join(', ');
}

function titleCase(s: string): string {
  return s.replace(/\b[a-z]/g, (c) => c.toUpperCase());
}
