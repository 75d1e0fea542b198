import { render, screen, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/client';
import { Confirm } from './confirm';

function dialog() {
  return screen.getByRole('dialog', { name: 'Delete demo?' });
}

describe('the confirm dialog', () => {
  it('asks, confirms and cancels', async () => {
    const onConfirm = vi.fn();
    const onCancel = vi.fn();
    render(
      <Confirm title="Delete demo?" open confirmLabel="Delete feed" onConfirm={onConfirm} onCancel={onCancel}>
        <p>It goes for good.</p>
      </Confirm>,
    );
    expect(within(dialog()).getByText('It goes for good.')).toBeTruthy();
    await userEvent.click(within(dialog()).getByRole('button', { name: 'Delete feed' }));
    expect(onConfirm).toHaveBeenCalledTimes(1);
    await userEvent.click(within(dialog()).getByRole('button', { name: 'Cancel' }));
    expect(onCancel).toHaveBeenCalled();
  });

  it('shows the action under way and its failure', () => {
    render(
      <Confirm
        title="Delete demo?"
        open
        confirmLabel="Delete feed"
        busy
        busyLabel="Deleting…"
        error={new ApiError(503, 'feedguard is unavailable')}
        onConfirm={() => undefined}
        onCancel={() => undefined}
      >
        <p>It goes for good.</p>
      </Confirm>,
    );
    const button = within(dialog()).getByRole('button', { name: 'Deleting…' }) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    expect(within(dialog()).getByRole('alert').textContent).toContain('feedguard is unavailable');
  });

  it('after a refusal that stands, explains it and offers only OK', () => {
    render(
      <Confirm
        title="Delete demo?"
        open
        confirmLabel="Delete feed"
        error={new ApiError(409, 'in use')}
        failure={<p role="alert">Still in use by two feeds.</p>}
        blocked
        onConfirm={() => undefined}
        onCancel={() => undefined}
      >
        <p>It goes for good.</p>
      </Confirm>,
    );
    expect(within(dialog()).getByRole('alert').textContent).toBe('Still in use by two feeds.');
    expect(within(dialog()).queryByRole('button', { name: 'Delete feed' })).toBeNull();
    expect(within(dialog()).getByRole('button', { name: 'OK' })).toBeTruthy();
  });
});
