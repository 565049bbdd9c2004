import { describe, expect, it } from 'vitest';
import { formatStats, parseCommand, weather } from './commands.js';

describe('commands', () => {
  it('parses commands and ignores plain text', () => {
    expect(parseCommand('/weather  New York ')).toEqual({ name: 'weather', args: 'New York' });
    expect(parseCommand('/WHO')).toEqual({ name: 'who', args: '' });
    expect(parseCommand('hello /weather')).toBeUndefined();
    expect(parseCommand('/')).toBeUndefined();
  });

  it('answers the weather from the local table', () => {
    expect(weather('paris')).toBe('Paris: 18 °C, cloudy');
    expect(weather('new   york')).toBe('New York: 20 °C, windy');
    expect(weather('Atlantis')).toMatch(/^I don't know the weather in Atlantis; try Paris, London/);
    expect(weather('')).toMatch(/^usage: \/weather <city>/);
  });

  it('formats counts by room name', () => {
    expect(formatStats(new Map())).toBe('no messages counted yet');
    expect(
      formatStats(
        new Map([
          ['lobby', 3],
          ['kitchen', 1],
        ]),
      ),
    ).toBe('messages per room: kitchen: 1, lobby: 3');
  });
});
