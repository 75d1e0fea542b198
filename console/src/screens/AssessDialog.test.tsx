import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { useState } from 'preact/hooks';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { dateInputValue, endOfDayIso } from '../format';
import { ApiError } from '../api/client';
import type { Loadable } from '../components/async';
import { session } from '../session';
import { AssessDialog, type Assessment, type AssessmentType, type AssessTarget } from './AssessDialog';
import { json } from '../testing';

const TYPES: AssessmentType[] = [
  { id: 'unassessed', name: 'Unassessed', effect: null, expiration_days: null, color: null, builtin: true },
  { id: 'ignore', name: 'Ignore', effect: 'allow', expiration_days: 90, color: '#2e7d32', builtin: true },
  { id: 'blocked', name: 'Blocked', effect: 'block', expiration_days: 30, color: '#c62828', builtin: true },
  { id: 'accepted', name: 'Accepted risk', effect: 'warn', expiration_days: null, color: '#6a1b9a', builtin: false },
].map((type) => ({ description: null, auto_assess: null, created_at: null, ...type }) as AssessmentType);

const MINE: Assessment = {
  type: 'ignore',
  effect: 'allow',
  comment: 'not reachable',
  assessed_by: 'alice',
  assessed_by_id: 'k-alice',
  assessed_at: '2026-12-01T10:00:00Z',
  expires_at: '2027-03-01T10:00:00Z',
  version: 4,
};

const THEIRS: Assessment = {
  type: 'blocked',
  effect: 'block',
  comment: 'bob says: upgrade log4j now',
  assessed_by: 'bob',
  assessed_by_id: 'k-bob',
  assessed_at: '2026-12-07T09:00:00Z',
  expires_at: null,
  version: 5,
};

function inDays(days: number): string {
  const now = new Date();
  return dateInputValue(new Date(now.getFullYear(), now.getMonth(), now.getDate() + days));
}

interface Call {
  method: string;
  path: string;
  ifMatch: string | null;
  body: unknown;
}

function stubApi(answer: (call: Call, index: number) => Response): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal('fetch', async (request: Request) => {
    const call: Call = {
      method: request.method,
      path: new URL(request.url).pathname,
      ifMatch: request.headers.get('If-Match'),
      body: request.method === 'GET' || request.method === 'DELETE' ? null : await request.clone().json(),
    };
    calls.push(call);
    return answer(call, calls.length - 1);
  });
  return calls;
}

function open(target: AssessTarget, handlers: { onAssessed?: () => void; onRefreshed?: () => void } = {}) {
  const onAssessed = handlers.onAssessed ?? vi.fn();
  render(
    <AssessDialog
      feed="demo"
      target={target}
      types={{ state: 'ready', data: TYPES }}
      onRetryTypes={() => {}}
      onClose={() => {}}
      onAssessed={onAssessed}
      onRefreshed={handlers.onRefreshed}
    />,
  );
  return screen.getByRole('dialog');
}

beforeEach(() => {
  session.start('test-key', { id: 'k1', name: 'alice', admin: false });
});

describe('the Assess dialog', () => {
  it('offers every type but unassessed, each with its effect', () => {
    stubApi(() => json(500, {}));
    const dialog = open({ kind: 'single', id: 'CVE-2021-44228', assessment: null });
    const options = within(dialog)
      .getAllByRole('option')
      .map((option) => option.textContent);
    expect(options).toEqual(['Ignore — allow', 'Blocked — block', 'Accepted risk — warn']);
  });

  it("prefills the expiry from the type's expiration days until the person picks a day", async () => {
    stubApi(() => json(500, {}));
    const dialog = open({ kind: 'single', id: 'CVE-2021-44228', assessment: null });
    const day = within(dialog).getByLabelText('Expires on') as HTMLInputElement;
    const never = within(dialog).getByLabelText('Never expires') as HTMLInputElement;
    expect(day.value).toBe(inDays(90));
    expect(day.min).toBe(inDays(0));
    expect(never.checked).toBe(false);

    await userEvent.selectOptions(within(dialog).getByLabelText('Assessment type'), 'blocked');
    expect(day.value).toBe(inDays(30));

    // A type without expiration days suggests never
    await userEvent.selectOptions(within(dialog).getByLabelText('Assessment type'), 'accepted');
    expect(never.checked).toBe(true);
    expect(day.disabled).toBe(true);

    // Once the person picks a day, changing the type leaves it alone
    await userEvent.selectOptions(within(dialog).getByLabelText('Assessment type'), 'ignore');
    expect(day.value).toBe(inDays(90));
    fireEvent.input(day, { target: { value: inDays(10) } });
    await userEvent.selectOptions(within(dialog).getByLabelText('Assessment type'), 'blocked');
    expect(day.value).toBe(inDays(10));
  });

  it('refuses a past expiry before sending anything', async () => {
    const calls = stubApi(() => json(200, MINE));
    const dialog = open({ kind: 'single', id: 'CVE-2021-44228', assessment: null });
    fireEvent.input(within(dialog).getByLabelText('Expires on'), { target: { value: inDays(-1) } });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save assessment' }));

    const field = within(dialog).getByLabelText('Expires on');
    expect(within(dialog).getByText(/The expiry cannot be in the past/)).toBeTruthy();
    expect(field.getAttribute('aria-invalid')).toBe('true');
    expect(calls).toHaveLength(0);
  });

  it('sends If-Match with the version it showed, and the end of the chosen day', async () => {
    const calls = stubApi(() => json(200, { ...MINE, version: 5 }));
    const onAssessed = vi.fn();
    const dialog = open({ kind: 'single', id: 'CVE-2021-44228', assessment: MINE }, { onAssessed });
    expect(within(dialog).getByText('not reachable')).toBeTruthy();
    await userEvent.type(within(dialog).getByLabelText('Comment'), 'still not reachable');
    fireEvent.input(within(dialog).getByLabelText('Expires on'), { target: { value: inDays(14) } });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save assessment' }));

    await waitFor(() => expect(onAssessed).toHaveBeenCalled());
    expect(calls).toHaveLength(1);
    expect(calls[0]).toEqual({
      method: 'PUT',
      path: '/feeds/demo/vulnerabilities/CVE-2021-44228/assessment',
      ifMatch: '4',
      body: { type: 'ignore', comment: 'still not reachable', expires_at: endOfDayIso(inDays(14)) },
    });
  });

  it('sends no If-Match for a first assessment, and null for never', async () => {
    const calls = stubApi(() => json(200, MINE));
    const dialog = open({ kind: 'single', id: 'CVE-2021-44228', assessment: null });
    await userEvent.click(within(dialog).getByLabelText('Never expires'));
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save assessment' }));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0]!.ifMatch).toBeNull();
    expect(calls[0]!.body).toEqual({ type: 'ignore', comment: null, expires_at: null });
  });

  it('on 412 shows the assessment now in force, keeps what was typed, and sends again with its version', async () => {
    const calls = stubApi((call, index) => {
      if (call.method === 'PUT' && index === 0) {
        return json(412, { message: 'The assessment is at version 5, not 4; read it again.' });
      }
      if (call.method === 'GET') return json(200, { id: 'CVE-2021-44228', status: 'assessed', assessment: THEIRS });
      return json(200, { ...MINE, version: 6 });
    });
    const onAssessed = vi.fn();
    const onRefreshed = vi.fn();
    const dialog = open({ kind: 'single', id: 'CVE-2021-44228', assessment: MINE }, { onAssessed, onRefreshed });
    await userEvent.selectOptions(within(dialog).getByLabelText('Assessment type'), 'blocked');
    await userEvent.type(within(dialog).getByLabelText('Comment'), 'my careful reasoning');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save assessment' }));

    expect(await within(dialog).findByText('Someone else changed this assessment')).toBeTruthy();
    expect(within(dialog).getByText('bob says: upgrade log4j now')).toBeTruthy();
    expect(within(dialog).getByText('bob')).toBeTruthy();
    expect((within(dialog).getByLabelText('Comment') as HTMLTextAreaElement).value).toBe('my careful reasoning');
    expect((within(dialog).getByLabelText('Assessment type') as HTMLSelectElement).value).toBe('blocked');
    expect(onAssessed).not.toHaveBeenCalled();
    expect(onRefreshed).toHaveBeenCalled();
    expect(calls[1]).toMatchObject({ method: 'GET', path: '/feeds/demo/vulnerabilities/CVE-2021-44228' });

    await userEvent.click(within(dialog).getByRole('button', { name: 'Save anyway' }));
    await waitFor(() => expect(onAssessed).toHaveBeenCalled());
    expect(calls[2]).toMatchObject({
      method: 'PUT',
      ifMatch: '5',
      body: { type: 'blocked', comment: 'my careful reasoning' },
    });
  });

  it("puts a 422's details next to their fields and keeps the form", async () => {
    stubApi(() =>
      json(422, {
        message: 'The assessment is not valid.',
        details: [{ loc: ['body', 'comment'], msg: 'The comment is at most 2000 characters.', type: 'too_long' }],
      }),
    );
    const dialog = open({ kind: 'single', id: 'CVE-2021-44228', assessment: null });
    await userEvent.type(within(dialog).getByLabelText('Comment'), 'long words');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save assessment' }));

    const error = await within(dialog).findByText('The comment is at most 2000 characters.');
    const comment = within(dialog).getByLabelText('Comment');
    expect(comment.getAttribute('aria-describedby')).toContain(error.id);
    expect((comment as HTMLTextAreaElement).value).toBe('long words');
  });

  it('keeps the form as typed when feedguard cannot be reached', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch');
    });
    const dialog = open({ kind: 'single', id: 'CVE-2021-44228', assessment: null });
    await userEvent.type(within(dialog).getByLabelText('Comment'), 'typed with care');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save assessment' }));

    expect(await within(dialog).findByRole('alert')).toBeTruthy();
    expect(within(dialog).getByText(/could not be reached/)).toBeTruthy();
    expect((within(dialog).getByLabelText('Comment') as HTMLTextAreaElement).value).toBe('typed with care');
  });

  it('waits for the assessment types, and offers to load them again when that failed', async () => {
    // Given a screen whose types are still loading when the person opens the dialog
    let setTypes: (types: Loadable<AssessmentType[]>) => void = () => {};
    const retry = vi.fn();
    function Screen() {
      const [types, set] = useState<Loadable<AssessmentType[]>>({ state: 'loading' });
      setTypes = set;
      return (
        <AssessDialog
          feed="demo"
          target={{ kind: 'single', id: 'CVE-2021-44228', assessment: null }}
          types={types}
          onRetryTypes={retry}
          onClose={() => {}}
          onAssessed={() => {}}
        />
      );
    }
    render(<Screen />);
    expect(screen.getByText('Loading the assessment types…')).toBeTruthy();
    expect(screen.queryByRole('combobox')).toBeNull();

    // When loading them fails, the person may try again
    act(() => setTypes({ state: 'failed', error: new ApiError(503, 'feedguard is busy.') }));
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(retry).toHaveBeenCalled();

    // And once they arrive, the form is there, each field labelled
    act(() => setTypes({ state: 'ready', data: TYPES }));
    expect((screen.getByLabelText('Assessment type') as HTMLSelectElement).value).toBe('ignore');
    expect(screen.getByLabelText('Comment').tagName).toBe('TEXTAREA');
  });

  it('in bulk mode sends the ids to the bulk route', async () => {
    const calls = stubApi(() => json(200, { assessed: 1, missing: ['CVE-X'] }));
    const onAssessed = vi.fn();
    const dialog = open({ kind: 'bulk', ids: ['CVE-2021-44228', 'CVE-X'] }, { onAssessed });
    expect(screen.getByRole('dialog', { name: 'Assess 2 vulnerabilities' })).toBe(dialog);
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save assessment' }));
    await waitFor(() =>
      expect(onAssessed).toHaveBeenCalledWith({ kind: 'bulk', result: { assessed: 1, missing: ['CVE-X'] } }),
    );
    expect(calls[0]).toMatchObject({
      method: 'POST',
      path: '/feeds/demo/assessments',
      ifMatch: null,
      body: { vulnerability_ids: ['CVE-2021-44228', 'CVE-X'], type: 'ignore', expires_at: endOfDayIso(inDays(90)) },
    });
  });
});
