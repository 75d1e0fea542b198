// Assessment types: the built-ins are read-only; custom ones carry a colour
// (shown as a badge with its name, never colour alone), an effect on the gate,
// how long an assessment lasts, an optional CVSS range assessed automatically,
// and what a VEX export states of findings assessed with it (docs/vex.md).
import { useState } from 'preact/hooks';
import { call, client, type Schemas } from '../../api/client';
import { useSubmit } from '../../components/async';
import { Confirm } from '../../components/confirm';
import { Dialog, EffectBadge, Empty, ErrorNotice, Field, Loading, Notice, TypeBadge } from '../../components/ui';
import { formatDate, formatScore } from '../../format';
import {
  VEX_JUSTIFICATION_LABEL,
  VEX_STATUS_LABEL,
  type VexJustification,
  type VexStatus,
} from '../../vex';
import { errorFor, FormError, usePagedList } from './common';

type AssessmentType = Schemas['AssessmentTypeView'];
type Effect = 'allow' | 'warn' | 'block';

const HEX = /^#[0-9a-fA-F]{6}$/;
const DEFAULT_COLOR = '#5e35b1';
const EFFECT_HINT: Record<Effect, string> = {
  allow: 'Allow: the gate lets the package through',
  warn: 'Warn: the gate lets it through with a warning',
  block: 'Block: the gate refuses the package',
};
const FIELDS = [
  'name',
  'description',
  'color',
  'effect',
  'expiration_days',
  'auto_assess',
  'auto_assess.min_cvss',
  'auto_assess.max_cvss',
  'vex_status',
  'vex_justification',
];

interface TypeValues {
  name: string;
  description: string;
  color: string;
  effect: Effect;
  expirationDays: string;
  minCvss: string;
  maxCvss: string;
  vexStatus: VexStatus | '';
  /** Kept while another status is chosen; sent with not_affected only. */
  vexJustification: VexJustification | '';
}

const EMPTY: TypeValues = {
  name: '',
  description: '',
  color: DEFAULT_COLOR,
  effect: 'warn',
  expirationDays: '90',
  minCvss: '',
  maxCvss: '',
  vexStatus: '',
  vexJustification: '',
};

function valuesOf(kind: AssessmentType): TypeValues {
  return {
    name: kind.name,
    description: kind.description ?? '',
    color: kind.color ?? DEFAULT_COLOR,
    effect: kind.effect ?? 'warn',
    expirationDays: kind.expiration_days === null ? '' : String(kind.expiration_days),
    minCvss: kind.auto_assess ? String(kind.auto_assess.min_cvss) : '',
    maxCvss: kind.auto_assess ? String(kind.auto_assess.max_cvss) : '',
    vexStatus: kind.vex_status ?? '',
    vexJustification: kind.vex_justification ?? '',
  };
}

type Body = Schemas['NewAssessmentType'];

/** The request body, or what the person must fix first (by the API's field names). */
function bodyOf(values: TypeValues): { body: Body } | { errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const name = values.name.trim();
  if (!name) errors.name = 'Give the type a name.';
  const color = values.color.trim();
  if (!HEX.test(color)) errors.color = 'A colour is written #rrggbb, e.g. #5e35b1.';
  let expirationDays: number | null = null;
  const days = values.expirationDays.trim();
  if (days) {
    if (!/^\d+$/.test(days) || Number(days) < 1) {
      errors.expiration_days = 'A whole number of days, 1 or more; leave it empty for assessments that never expire.';
    } else {
      expirationDays = Number(days);
    }
  }
  let autoAssess: Body['auto_assess'] = null;
  const [min, max] = [values.minCvss.trim(), values.maxCvss.trim()];
  if (min || max) {
    const score = (text: string) => (/^\d+(\.\d+)?$/.test(text) && Number(text) <= 10 ? Number(text) : null);
    const [low, high] = [score(min), score(max)];
    if (!min || !max) errors.auto_assess = 'Give both ends of the range, or leave both empty.';
    else if (low === null) errors['auto_assess.min_cvss'] = 'A CVSS score from 0 to 10.';
    else if (high === null) errors['auto_assess.max_cvss'] = 'A CVSS score from 0 to 10.';
    else if (low > high) errors.auto_assess = 'The lowest score must not be above the highest.';
    else autoAssess = { min_cvss: low, max_cvss: high };
  }
  if (Object.keys(errors).length > 0) return { errors };
  return {
    body: {
      name,
      description: values.description.trim() || null,
      color,
      effect: values.effect,
      expiration_days: expirationDays,
      auto_assess: autoAssess,
      vex_status: values.vexStatus || null,
      // The API takes a justification with not_affected only; null clears one.
      vex_justification: (values.vexStatus === 'not_affected' && values.vexJustification) || null,
    },
  };
}

interface TypeFormProps {
  kind?: AssessmentType;
  onSaved: (kind: AssessmentType) => void;
  onCancel?: () => void;
}

function TypeForm({ kind, onSaved, onCancel }: TypeFormProps) {
  const creating = !kind;
  const [values, setValues] = useState<TypeValues>(kind ? valuesOf(kind) : EMPTY);
  const [checked, setChecked] = useState<Record<string, string>>({});
  const { busy, error, setError, run } = useSubmit();
  const errors = { ...(error?.status === 422 ? error.fieldErrors() : {}), ...checked };
  const set = (name: keyof TypeValues) => (event: { currentTarget: { value: string } }) => {
    const value = event.currentTarget.value;
    setValues((previous) => ({ ...previous, [name]: value }));
  };
  const validColor = HEX.test(values.color.trim()) ? values.color.trim().toLowerCase() : null;

  async function submit(event: Event) {
    event.preventDefault();
    const checkedBody = bodyOf(values);
    if ('errors' in checkedBody) {
      setChecked(checkedBody.errors);
      setError(null);
      return;
    }
    setChecked({});
    const { body } = checkedBody;
    const saved = await run(() =>
      kind
        ? call(client.PATCH('/assessment-types/{id}', { params: { path: { id: kind.id } }, body }))
        : call(client.POST('/assessment-types', { body })),
    );
    if (!saved) return;
    if (creating) setValues(EMPTY);
    onSaved(saved);
  }

  const rangeError = errorFor(errors, 'auto_assess');
  const justifiable = values.vexStatus === 'not_affected';
  return (
    <form onSubmit={submit} noValidate aria-label={kind ? `Edit ${kind.name}` : 'New assessment type'}>
      <FormError error={error} shown={FIELDS} />
      <div class="form-grid">
        <Field label="Name" error={errors.name} hint={creating ? 'Its id is made from the name.' : undefined}>
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              type="text"
              name="name"
              autoComplete="off"
              value={values.name}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onInput={set('name')}
            />
          )}
        </Field>
        <Field label="Effect" error={errors.effect} hint="What the gate does with a finding assessed with this type.">
          {({ id, describedBy, invalid }) => (
            <select
              id={id}
              name="effect"
              value={values.effect}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onChange={set('effect')}
            >
              {(Object.keys(EFFECT_HINT) as Effect[]).map((effect) => (
                <option key={effect} value={effect}>
                  {EFFECT_HINT[effect]}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <Field label="Description" error={errors.description}>
        {({ id, describedBy, invalid }) => (
          <textarea
            id={id}
            name="description"
            class="admin-description"
            rows={2}
            value={values.description}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            onInput={set('description')}
          />
        )}
      </Field>
      <div class="form-grid">
        <Field
          label="Colour"
          error={errors.color}
          hint="Written #rrggbb; the badge's text turns black or white to stay readable."
        >
          {({ id, describedBy, invalid }) => (
            <div class="color-input">
              <input
                type="color"
                aria-label="Colour picker"
                value={validColor ?? DEFAULT_COLOR}
                onInput={set('color')}
              />
              <input
                id={id}
                type="text"
                name="color"
                class="mono color-text"
                autoComplete="off"
                spellcheck={false}
                maxLength={7}
                value={values.color}
                aria-describedby={describedBy}
                aria-invalid={invalid}
                onInput={set('color')}
              />
              <span class="color-preview">
                <span class="swatch" aria-hidden="true" style={{ backgroundColor: validColor ?? 'transparent' }} />{' '}
                <TypeBadge name={values.name.trim() || 'Preview'} color={validColor} />
              </span>
            </div>
          )}
        </Field>
        <Field
          label="Expiration (days)"
          error={errors.expiration_days}
          hint="How long an assessment of this type lasts before it must be made again. Empty: never expires."
        >
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              type="text"
              inputMode="numeric"
              name="expiration_days"
              autoComplete="off"
              value={values.expirationDays}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onInput={set('expirationDays')}
            />
          )}
        </Field>
      </div>
      <fieldset class={`cvss-range${rangeError ? ' field-invalid' : ''}`}>
        <legend>Auto-assess CVSS range (optional)</legend>
        <p class="hint">
          Newly detected findings whose CVSS score is in this range are assessed with this type automatically. Give both
          ends (0 to 10), or leave both empty.
        </p>
        <div class="form-grid">
          <Field label="Lowest score" error={errors['auto_assess.min_cvss']}>
            {({ id, describedBy, invalid }) => (
              <input
                id={id}
                type="text"
                inputMode="decimal"
                name="min_cvss"
                autoComplete="off"
                value={values.minCvss}
                aria-describedby={describedBy}
                aria-invalid={invalid || Boolean(rangeError)}
                onInput={set('minCvss')}
              />
            )}
          </Field>
          <Field label="Highest score" error={errors['auto_assess.max_cvss']}>
            {({ id, describedBy, invalid }) => (
              <input
                id={id}
                type="text"
                inputMode="decimal"
                name="max_cvss"
                autoComplete="off"
                value={values.maxCvss}
                aria-describedby={describedBy}
                aria-invalid={invalid || Boolean(rangeError)}
                onInput={set('maxCvss')}
              />
            )}
          </Field>
        </div>
        {rangeError && <p class="field-error">{rangeError}</p>}
      </fieldset>
      <fieldset class="vex-fields">
        <legend>VEX export (optional)</legend>
        <p class="hint">
          What a feed's VEX export tells scanners of a finding assessed with this type. Without a status it says
          Affected.
        </p>
        <div class="form-grid">
          <Field label="VEX status" error={errors.vex_status}>
            {({ id, describedBy, invalid }) => (
              <select
                id={id}
                name="vex_status"
                value={values.vexStatus}
                aria-describedby={describedBy}
                aria-invalid={invalid}
                onChange={set('vexStatus')}
              >
                <option value="">None (exported as Affected)</option>
                {(Object.keys(VEX_STATUS_LABEL) as VexStatus[]).map((status) => (
                  <option key={status} value={status}>
                    {VEX_STATUS_LABEL[status]}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field
            label="VEX justification"
            error={errors.vex_justification}
            hint="Why the package is not affected: only with the status Not affected."
          >
            {({ id, describedBy, invalid }) => (
              <select
                id={id}
                name="vex_justification"
                value={justifiable ? values.vexJustification : ''}
                disabled={!justifiable}
                aria-describedby={describedBy}
                aria-invalid={invalid}
                onChange={set('vexJustification')}
              >
                <option value="">None</option>
                {(Object.keys(VEX_JUSTIFICATION_LABEL) as VexJustification[]).map((justification) => (
                  <option key={justification} value={justification}>
                    {VEX_JUSTIFICATION_LABEL[justification]}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
      </fieldset>
      <div class="form-actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : creating ? 'Add type' : 'Save changes'}
        </button>
        {onCancel && (
          <button type="button" class="secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function rangeOf(kind: AssessmentType): string {
  if (!kind.auto_assess) return '—';
  return `CVSS ${formatScore(kind.auto_assess.min_cvss)} to ${formatScore(kind.auto_assess.max_cvss)}`;
}

/** What a VEX export states of a finding assessed with the type (docs/vex.md). */
function VexCell({ kind }: { kind: AssessmentType }) {
  if (kind.id === 'unassessed') return <span class="meta">Under investigation</span>;
  if (!kind.vex_status) {
    return (
      <>
        Affected <span class="meta">(not set)</span>
      </>
    );
  }
  return (
    <>
      {VEX_STATUS_LABEL[kind.vex_status]}
      {kind.vex_justification && <div class="meta">{VEX_JUSTIFICATION_LABEL[kind.vex_justification]}</div>}
    </>
  );
}

export function TypesSection() {
  const list = usePagedList(
    (cursor) => call(client.GET('/assessment-types', { params: { query: cursor ? { cursor } : {} } })),
    'Pages of assessment types',
  );
  const [message, setMessage] = useState<string | null>(null);
  const [editing, setEditing] = useState<AssessmentType | null>(null);
  const [deleting, setDeleting] = useState<AssessmentType | null>(null);
  const removal = useSubmit();

  function saved(kind: AssessmentType, verb: string) {
    setMessage(`Assessment type ${kind.name} ${verb}.`);
    void list.reload();
  }

  function closeDelete() {
    setDeleting(null);
    removal.setError(null);
  }

  async function remove() {
    if (!deleting) return;
    const gone = deleting;
    const done = await removal.run(async () => {
      await call(client.DELETE('/assessment-types/{id}', { params: { path: { id: gone.id } } }));
      return true;
    });
    if (!done) return;
    setDeleting(null);
    setMessage(`Assessment type ${gone.name} deleted.`);
    await list.afterDelete((list.loaded.data?.items.length ?? 1) - 1);
  }

  const { loaded } = list;
  const kinds = loaded.data?.items;
  return (
    <>
      <h2>Assessment types</h2>
      <p class="lead">
        What an assessment decides. The built-ins cannot be changed; add your own with a colour, an effect on the gate,
        how long it lasts and what a VEX export says of it.
      </p>
      {message && <Notice kind="success">{message}</Notice>}
      {loaded.state === 'failed' && <ErrorNotice error={loaded.error} onRetry={list.reload} />}
      {!kinds && loaded.state === 'loading' && <Loading label="Loading assessment types…" />}
      {kinds && kinds.length === 0 && list.firstPage && <Empty>No assessment types.</Empty>}
      {kinds && kinds.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Assessment types</caption>
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Colour</th>
                <th scope="col">Effect</th>
                <th scope="col" class="num">
                  Expires after
                </th>
                <th scope="col">Auto-assess</th>
                <th scope="col">VEX status</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {kinds.map((kind) => (
                <tr key={kind.id}>
                  <td>
                    <TypeBadge name={kind.name} color={kind.color} />{' '}
                    {kind.builtin && <span class="badge badge-builtin">Built-in</span>}
                    {kind.description && <div class="meta">{kind.description}</div>}
                    {!kind.builtin && kind.created_at && <div class="meta">Created {formatDate(kind.created_at)}</div>}
                  </td>
                  <td>
                    {kind.color ? (
                      <span class="color-cell">
                        <span class="swatch" aria-hidden="true" style={{ backgroundColor: kind.color }} />
                        <code>{kind.color}</code>
                      </span>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td>
                    {kind.effect ? (
                      <EffectBadge effect={kind.effect} />
                    ) : (
                      <span class="meta">The feed's unassessed effect</span>
                    )}
                  </td>
                  <td class="num">
                    {kind.id === 'unassessed'
                      ? '—'
                      : kind.expiration_days === null
                        ? 'Never'
                        : `${kind.expiration_days} days`}
                  </td>
                  <td>{rangeOf(kind)}</td>
                  <td>
                    <VexCell kind={kind} />
                  </td>
                  <td>
                    {!kind.builtin && (
                      <div class="row-actions">
                        <button
                          type="button"
                          class="secondary"
                          aria-label={`Edit ${kind.name}`}
                          onClick={() => setEditing(kind)}
                        >
                          Edit
                        </button>
                        <button
                          type="button"
                          class="secondary"
                          aria-label={`Delete ${kind.name}`}
                          onClick={() => setDeleting(kind)}
                        >
                          Delete
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.pager}

      <section class="panel admin-create" aria-labelledby="new-type-title">
        <h3 id="new-type-title">Add a custom assessment type</h3>
        <TypeForm onSaved={(kind) => saved(kind, 'added')} />
      </section>

      <Dialog
        title={editing ? `Edit ${editing.name}` : 'Edit assessment type'}
        open={editing !== null}
        onClose={() => setEditing(null)}
        wide
      >
        {editing && (
          <div class="dialog-body">
            <TypeForm
              kind={editing}
              onCancel={() => setEditing(null)}
              onSaved={(kind) => {
                setEditing(null);
                saved(kind, 'saved');
              }}
            />
          </div>
        )}
      </Dialog>

      <Confirm
        title={deleting ? `Delete ${deleting.name}?` : 'Delete assessment type?'}
        open={deleting !== null}
        busy={removal.busy}
        busyLabel="Deleting…"
        error={removal.error}
        confirmLabel="Delete type"
        onConfirm={() => void remove()}
        onCancel={closeDelete}
        blocked={removal.error?.status === 409}
        failure={
          removal.error?.status === 409 ? (
          <div class="notice notice-error" role="alert">
            <div>
              <p>{removal.error.message}</p>
              <p>
                A type cannot be deleted while an assessment in force uses it. Reassess those findings with another
                type, or wait until their assessments expire, then delete it. You can still edit its name, colour
                and effect.
              </p>
            </div>
          </div>
          ) : undefined
        }
      >
        <p>
          The assessment type <strong>{deleting?.name}</strong> will be deleted. It can only be deleted while no
          assessment in force uses it.
        </p>
      </Confirm>
    </>
  );
}
