import { cleanup } from '@testing-library/preact';
import { afterEach } from 'vitest';
import { location, parse } from './router';
import { session } from './session';

afterEach(() => {
  cleanup();
  session.end(null);
  window.sessionStorage.clear();
  window.history.replaceState(null, '', '#');
  location.value = parse('');
});
