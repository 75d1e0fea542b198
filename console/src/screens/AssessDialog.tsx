// The Assess dialog: one finding (PUT …/{id}/assessment, guarded by If-Match
// with the version it showed) or several at once (POST /feeds/{feed}/assessments).
// Nothing typed is lost on an error; a 412 shows the assessment now in force
// and lets the person send theirs again against it.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call, client, everyPage, type Schemas } from '../api/client';
import { useLoad, useSubmit, type Loadable } from '../components/async';
import { Dialog, EffectBadge, ErrorNotice, Field, Loading, Notice, TypeBadge } from '../components/ui';
import { dateInputValue, endOfDayIso, formatDate, formatDay } from '../format';

export type AssessmentType = Schemas['AssessmentTypeView'];
export type Assessment = Schemas['AssessmentView'];
export type Finding = Schemas['FindingDetail'];
export type BulkResult = Schemas['BulkResult'];

/** The assessment types, loaded once by the screen that shows them. */
export function useAssessmentTypes(): [Loadable<AssessmentType[]>, () => Promise<void>] {
  return useLoad(
    () => everyPage((cursor) => call(client.GET('/assessment-types', { params: { query: { limit: 500, cursor } } }))),
    [],
  );
}

/** Every type a person may give: all but the implicit `unassessed`. */
export function assignable(types: AssessmentType[]): AssessmentType[] {
  return types.filter((type) => type.id !== 'unassessed');
}

/** The badge of an assessment's type, in that type's colour when it is known. */
export function AssessmentTypeBadge({ type, types }: { type: string; types: AssessmentType[] | undefined }) {
  const known = types?.find((candidate) => candidate.id === type);
  return <TypeBadge name={known?.name ?? type} color={known?.color ?? null} />;
}

export type AssessTarget =
  | { kind: 'single'; id: string; assessment: Assessment | null; expired?: boolean }
  | { kind: 'bulk'; ids: string[] };

export type AssessOutcome = { kind: 'single'; assessment: Assessment } | { kind: 'bulk'; result: BulkResult };

interface AssessDialogProps {
  feed: string;
  /** What to assess; null keeps the dialog closed. */
  target: AssessTarget | null;
  /** The assessment types as the screen loads them (the dialog waits for them). */
  types: Loadable<AssessmentType[]>;
  onRetryTypes: () => void;
  onClose: () => void;
  onAssessed: (outcome: AssessOutcome) => void;
  /** The finding as read again after a 412, for the screen behind to show too. */
  onRefreshed?: (finding: Finding) => void;
}

export const BULK_LIMIT = 100;

export function AssessDialog(props: AssessDialogProps) {
  const { target, types, onRetryTypes, onClose } = props;
  let title = 'Assess';
  if (target?.kind === 'single') title = `${target.assessment || target.expired ? 'Reassess' : 'Assess'} ${target.id}`;
  if (target?.kind === 'bulk') {
    title = `Assess ${target.ids.length} ${target.ids.length === 1 ? 'vulnerability' : 'vulnerabilities'}`;
  }
  return (
    <Dialog title={title} open={target !== null} onClose={onClose}>
      {target && types.data && <AssessForm {...props} target={target} types={types.data} />}
      {target && !types.data && (
        <div class="dialog-body">
          {types.state === 'failed' ? (
            <ErrorNotice error={types.error} onRetry={onRetryTypes} />
          ) : (
            <Loading label="Loading the assessment types…" />
          )}
          <div class="form-actions">
            <button type="button" class="secondary" onClick={onClose}>
              Close
            </button>
          </div>
        </div>
      )}
    </Dialog>
  );
}

function addDays(days: number): string {
  const now = new Date();
  return dateInputValue(new Date(now.getFullYear(), now.getMonth(), now.getDate() + days));
}

/** The expiry a type suggests: its expiration days from today, or never. */
function suggestedExpiry(type: AssessmentType | undefined): { day: string; never: boolean } {
  const days = type?.expiration_days;
  if (days === null || days === undefined) return { day: '', never: true };
  return { day: addDays(days), never: false };
}

const EFFECT_WORD: Record<string, string> = { allow: 'allow', warn: 'warn', block: 'block' };

function typeHint(type: AssessmentType | undefined) {
  if (!type) return undefined;
  const days = type.expiration_days;
  const expiry =
    days === null
      ? 'Does not expire unless you pick a day.'
      : `Expires after ${days} ${days === 1 ? 'day' : 'days'} unless you pick another day.`;
  return (
    <>
      Effect: <EffectBadge effect={type.effect} />. {type.description ? `${type.description} ` : ''}
      {expiry}
    </>
  );
}

interface AssessFormProps extends Omit<AssessDialogProps, 'target' | 'types'> {
  target: AssessTarget;
  types: AssessmentType[];
}

function AssessForm({ feed, target, types, onClose, onAssessed, onRefreshed }: AssessFormProps) {
  const choices = assignable(types);
  const current = target.kind === 'single' ? target.assessment : null;
  const initialType =
    (current && choices.find((type) => type.id === current.type)?.id) ?? choices[0]?.id ?? '';
  const [typeId, setTypeId] = useState(initialType);
  const [comment, setComment] = useState('');
  const initialExpiry = suggestedExpiry(choices.find((type) => type.id === initialType));
  const [day, setDay] = useState(initialExpiry.day);
  const [never, setNever] = useState(initialExpiry.never);
  const [expiryEdited, setExpiryEdited] = useState(false);
  const [dayError, setDayError] = useState<string | null>(null);
  const [shown, setShown] = useState<Assessment | null>(current);
  const [conflict, setConflict] = useState(false);
  const submit = useSubmit();
  const today = dateInputValue(new Date());
  const chosen = choices.find((type) => type.id === typeId);
  const bulkTooBig = target.kind === 'bulk' && (target.ids.length === 0 || target.ids.length > BULK_LIMIT);
  const fieldErrors = submit.error?.fieldErrors() ?? {};

  function chooseType(id: string) {
    setTypeId(id);
    if (!expiryEdited) {
      const next = suggestedExpiry(choices.find((type) => type.id === id));
      setDay(next.day);
      setNever(next.never);
      setDayError(null);
    }
  }

  async function send(event: Event) {
    event.preventDefault();
    let expiresAt: string | null = null;
    if (!never) {
      if (!day) {
        setDayError('Choose the day it expires, or tick “Never expires”.');
        return;
      }
      if (day < today) {
        setDayError('The expiry cannot be in the past: choose today or a later day.');
        return;
      }
      expiresAt = endOfDayIso(day);
      if (!expiresAt) {
        setDayError('That is not a date.');
        return;
      }
    }
    setDayError(null);
    const text = comment.trim();
    await submit.run(async () => {
      if (target.kind === 'bulk') {
        const result = await call(
          client.POST('/feeds/{feed}/assessments', {
            params: { path: { feed } },
            body: { vulnerability_ids: target.ids, type: typeId, comment: text || null, expires_at: expiresAt },
          }),
        );
        onAssessed({ kind: 'bulk', result });
        return;
      }
      try {
        const assessment = await call(
          client.PUT('/feeds/{feed}/vulnerabilities/{id}/assessment', {
            params: { path: { feed, id: target.id } },
            body: { type: typeId, comment: text || null, expires_at: expiresAt },
            ...(shown ? { headers: { 'If-Match': String(shown.version) } } : {}),
          }),
        );
        onAssessed({ kind: 'single', assessment });
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 412) throw error;
        // Someone else assessed it meanwhile: show theirs, keep ours, let the person decide.
        const finding = await call(
          client.GET('/feeds/{feed}/vulnerabilities/{id}', { params: { path: { feed, id: target.id } } }),
        );
        setShown(finding.assessment);
        setConflict(true);
        onRefreshed?.(finding);
      }
    });
  }

  if (choices.length === 0) {
    return (
      <div class="dialog-body">
        <Notice kind="warning">There is no assessment type to give yet; the admin creates them.</Notice>
        <div class="form-actions">
          <button type="button" class="secondary" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
    );
  }

  return (
    <form onSubmit={send} noValidate class="assess-form">
      {target.kind === 'bulk' && (
        <details class="assess-ids">
          <summary>
            {target.ids.length} selected {target.ids.length === 1 ? 'vulnerability' : 'vulnerabilities'}
          </summary>
          <ul>
            {target.ids.map((id) => (
              <li key={id}>
                <code>{id}</code>
              </li>
            ))}
          </ul>
        </details>
      )}
      {target.kind === 'bulk' && target.ids.length > BULK_LIMIT && (
        <Notice kind="warning">At most {BULK_LIMIT} can be assessed together; select fewer.</Notice>
      )}
      {fieldErrors['vulnerability_ids'] && <p class="field-error">{fieldErrors['vulnerability_ids']}</p>}
      {conflict && (
        <div class="notice notice-warning" role="alert">
          <p>
            <strong>Someone else changed this assessment</strong> while you were editing. Their assessment is shown
            below; what you typed is kept. Send yours to replace it, or close to keep theirs.
          </p>
        </div>
      )}
      {target.kind === 'single' && shown && (
        <CurrentAssessment
          assessment={shown}
          types={types}
          heading={conflict ? 'Now in force' : 'Current assessment'}
        />
      )}
      <ErrorNotice error={submit.error} />
      <Field label="Assessment type" error={fieldErrors['type']} hint={typeHint(chosen)}>
        {({ id, describedBy, invalid }) => (
          <select
            id={id}
            name="type"
            value={typeId}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onChange={(event) => chooseType(event.currentTarget.value)}
          >
            {choices.map((type) => (
              <option key={type.id} value={type.id}>
                {type.name} — {EFFECT_WORD[type.effect ?? ''] ?? type.effect}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Comment" error={fieldErrors['comment']} hint="Why this decision: it is kept in the history.">
        {({ id, describedBy, invalid }) => (
          <textarea
            id={id}
            name="comment"
            rows={3}
            class="assess-comment"
            value={comment}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onInput={(event) => setComment(event.currentTarget.value)}
          />
        )}
      </Field>
      <Field
        label="Expires on"
        error={dayError ?? fieldErrors['expires_at']}
        hint={never ? 'Never expires.' : 'At the end of that day, your time. Today or later.'}
      >
        {({ id, describedBy, invalid }) => (
          <input
            id={id}
            type="date"
            name="expires"
            min={today}
            value={day}
            disabled={never}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onInput={(event) => {
              setDay(event.currentTarget.value);
              setExpiryEdited(true);
              setDayError(null);
            }}
          />
        )}
      </Field>
      <label class="check">
        <input
          type="checkbox"
          name="never"
          checked={never}
          onChange={(event) => {
            setNever(event.currentTarget.checked);
            setExpiryEdited(true);
            setDayError(null);
            if (!event.currentTarget.checked && !day) setDay(suggestedExpiry(chosen).day || addDays(90));
          }}
        />{' '}
        Never expires
      </label>
      <div class="form-actions">
        <button
          type="submit"
          disabled={submit.busy || bulkTooBig}
        >
          {submit.busy ? 'Saving…' : conflict ? 'Save anyway' : 'Save assessment'}
        </button>
        <button type="button" class="secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/**
 * What an assessment did, taking the focus when it appears: the control that
 * opened the dialog may be gone (Remove) or disabled (Assess selected) by then.
 */
export function OutcomeNotice({
  kind = 'success',
  children,
}: {
  kind?: 'success' | 'warning';
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return (
    <div ref={ref} class={`notice notice-${kind} outcome`} role="status" tabIndex={-1}>
      {children}
    </div>
  );
}

/** An assessment in force: type, effect, comment, who, when, expiry, version. */
export function CurrentAssessment({
  assessment,
  types,
  heading = 'Current assessment',
  expired = false,
}: {
  assessment: Assessment;
  types: AssessmentType[] | undefined;
  heading?: string;
  expired?: boolean;
}) {
  return (
    <section class="current-assessment" aria-label={heading}>
      <h3>{heading}</h3>
      <dl class="facts">
        <dt>Type</dt>
        <dd>
          <AssessmentTypeBadge type={assessment.type} types={types} /> <EffectBadge effect={assessment.effect} />
        </dd>
        <dt>Comment</dt>
        <dd class="assessment-comment">{assessment.comment || '—'}</dd>
        <dt>Assessed by</dt>
        <dd>{assessment.assessed_by}</dd>
        <dt>Assessed at</dt>
        <dd>
          <time dateTime={assessment.assessed_at}>{formatDate(assessment.assessed_at)}</time>
        </dd>
        <dt>{expired ? 'Expired' : 'Expires'}</dt>
        <dd>
          {assessment.expires_at ? (
            <time dateTime={assessment.expires_at}>{formatDay(assessment.expires_at)}</time>
          ) : (
            'Never'
          )}
        </dd>
        <dt>Version</dt>
        <dd>{assessment.version}</dd>
      </dl>
    </section>
  );
}
