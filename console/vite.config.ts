/// <reference types="vitest/config" />
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

// index.html is served at `/`; every asset lives under `/console/`, a prefix no
// API path uses, so the console and the API share one origin without colliding.
export default defineConfig({
  plugins: [preact()],
  base: '/',
  build: {
    assetsDir: 'console/assets',
    sourcemap: false,
    target: 'es2022',
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    setupFiles: ['src/test-setup.ts'],
    restoreMocks: true,
  },
});
