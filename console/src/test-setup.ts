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

// What a browser has and jsdom lacks, added once for every test file.

// <dialog>'s showModal/close: open and close it as a browser would, with its close event.
const dialogProto = HTMLDialogElement.prototype as HTMLDialogElement & { showModal?: () => void };
if (typeof dialogProto.showModal !== 'function' || typeof dialogProto.close !== 'function') {
  dialogProto.showModal = function showModal(this: HTMLDialogElement) {
    this.setAttribute('open', '');
  };
  dialogProto.close = function close(this: HTMLDialogElement) {
    if (!this.hasAttribute('open')) return;
    this.removeAttribute('open');
    this.dispatchEvent(new Event('close'));
  };
}

// A File's (a Blob's) text().
if (typeof Blob.prototype.text !== 'function') {
  Blob.prototype.text = function text(this: Blob) {
    return new Promise<string>((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result));
      reader.onerror = () => reject(reader.error);
      reader.readAsText(this);
    });
  };
}
