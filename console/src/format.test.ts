import { describe, expect, it } from 'vitest';
import { contrast, endOfDayIso, textOn } from './format';

describe('badge text on a type colour', () => {
  it.each(['#000000', '#ffffff', '#7d1111', '#ffcc00', '#2e7d32', '#1565c0', '#808080', '#ff00ff'])(
    'keeps WCAG AA contrast on %s',
    (colour) => {
      expect(contrast(colour, textOn(colour))).toBeGreaterThanOrEqual(4.5);
    },
  );
});

describe('an expiry day', () => {
  it('ends at the end of that day, in UTC', () => {
    const iso = endOfDayIso('2027-03-01');
    expect(iso).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(new Date(iso!).getDate()).toBe(1);
  });

  it('is refused when not a date', () => {
    expect(endOfDayIso('tomorrow')).toBeNull();
  });
});
