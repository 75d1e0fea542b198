import { render, screen, waitFor, within } from '@testing-library/preact';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { AdminScreen } from './AdminScreen';
import { fakeApi, json, page, signInAsAdmin, type Sent } from '../../testing';

const BUILTINS = [
  {
    id: 'unassessed',
    name: 'Unassessed',
    description: "Not assessed yet; takes the feed's unassessed_effect.",
    effect: null,
    expiration_days: null,
    color: null,
    auto_assess: null,
    vex_status: null,
    vex_justification: null,
    builtin: true,
    created_at: null,
  },
  {
    id: 'ignore',
    name: 'Ignore',
    description: 'Not a risk here.',
    effect: 'allow',
    expiration_days: 90,
    color: '#2e7d32',
    auto_assess: null,
    vex_status: 'not_affected',
    vex_justification: 'vulnerable_code_not_in_execute_path',
    builtin: true,
    created_at: null,
  },
];
const WONTFIX = {
  id: 'wont-fix',
  name: 'Wont fix',
  description: 'Accepted risk',
  effect: 'warn',
  expiration_days: null,
  color: '#1565c0',
  auto_assess: { min_cvss: 0, max_cvss: 3.9 },
  vex_status: null,
  vex_justification: null,
  builtin: false,
  created_at: '2026-12-07T01:00:00Z',
};

beforeEach(() => {
  signInAsAdmin();
});

async function newTypeForm() {
  return screen.findByRole('form', { name: 'New assessment type' });
}

describe('assessment types', () => {
  it('marks the built-ins read-only and offers edit and delete on custom types only', async () => {
    fakeApi({ 'GET /assessment-types': page([...BUILTINS, WONTFIX]) });
    render(<AdminScreen section="types" />);

    const ignore = (await screen.findByText('Ignore', { selector: '.badge-type' })).closest('tr')!;
    expect(within(ignore).getByText('Built-in')).toBeTruthy();
    expect(within(ignore).queryAllByRole('button')).toHaveLength(0);
    const unassessed = screen.getByText('Unassessed', { selector: '.badge-type' }).closest('tr')!;
    expect(within(unassessed).queryAllByRole('button')).toHaveLength(0);
    expect(within(unassessed).getByText("The feed's unassessed effect")).toBeTruthy();

    const custom = screen.getByText('Wont fix', { selector: '.badge-type' }).closest('tr')!;
    expect(within(custom).queryByText('Built-in')).toBeNull();
    expect(within(custom).getByRole('button', { name: 'Edit Wont fix' })).toBeTruthy();
    expect(within(custom).getByRole('button', { name: 'Delete Wont fix' })).toBeTruthy();
    // Its colour as a badge with its name, the hex as text, its effect, expiry and range
    expect(within(custom).getByText('#1565c0')).toBeTruthy();
    expect(within(custom).getByText('Warn')).toBeTruthy();
    expect(within(custom).getByText('Never')).toBeTruthy();
    expect(within(custom).getByText('CVSS 0.0 to 3.9')).toBeTruthy();
  });

  it('creates a custom type with the contract body', async () => {
    let types: unknown[] = [...BUILTINS];
    const api = fakeApi({
      'GET /assessment-types': () => json(200, page(types)),
      'POST /assessment-types': (sent: Sent) => {
        types = [...BUILTINS, { ...WONTFIX, ...(sent.body as object) }];
        return json(201, types.at(-1));
      },
    });
    render(<AdminScreen section="types" />);
    const form = await newTypeForm();
    await userEvent.type(within(form).getByLabelText('Name'), 'Wont fix');
    await userEvent.type(within(form).getByLabelText('Description'), 'Accepted risk');
    const colour = within(form).getByLabelText('Colour');
    await userEvent.clear(colour);
    await userEvent.type(colour, '#1565C0');
    // The picker follows the text, and the preview shows the name on that colour
    expect((within(form).getByLabelText('Colour picker') as HTMLInputElement).value).toBe('#1565c0');
    expect(within(form).getByText('Wont fix', { selector: '.badge-type' }).style.backgroundColor).toBe('rgb(21, 101, 192)');
    await userEvent.selectOptions(within(form).getByLabelText('Effect'), 'block');
    await userEvent.clear(within(form).getByLabelText('Expiration (days)'));
    await userEvent.type(within(form).getByLabelText('Lowest score'), '0');
    await userEvent.type(within(form).getByLabelText('Highest score'), '3.9');
    await userEvent.click(within(form).getByRole('button', { name: 'Add type' }));

    await waitFor(() => expect(api.of('POST', '/assessment-types')).toHaveLength(1));
    expect(api.of('POST', '/assessment-types')[0]!.body).toEqual({
      name: 'Wont fix',
      description: 'Accepted risk',
      color: '#1565C0',
      effect: 'block',
      expiration_days: null,
      auto_assess: { min_cvss: 0, max_cvss: 3.9 },
      vex_status: null,
      vex_justification: null,
    });
    expect(await screen.findByText('Assessment type Wont fix added.')).toBeTruthy();
    expect((within(form).getByLabelText('Name') as HTMLInputElement).value).toBe('');
  });

  it('shows a 422 next to the fields it names and keeps everything typed', async () => {
    const api = fakeApi({
      'GET /assessment-types': page(BUILTINS),
      'POST /assessment-types': () =>
        json(422, {
          message: "The request is not valid: body.color: String should match pattern '^#[0-9a-fA-F]{6}$'.",
          details: [
            { loc: ['body', 'color'], type: 'string_pattern_mismatch', msg: 'Colour refused by the API' },
            { loc: ['body', 'auto_assess', 'min_cvss'], type: 'less_than_equal', msg: 'Lowest score refused by the API' },
          ],
        }),
    });
    render(<AdminScreen section="types" />);
    const form = await newTypeForm();
    await userEvent.type(within(form).getByLabelText('Name'), 'Later');
    await userEvent.type(within(form).getByLabelText('Lowest score'), '2');
    await userEvent.type(within(form).getByLabelText('Highest score'), '5');
    await userEvent.click(within(form).getByRole('button', { name: 'Add type' }));

    await waitFor(() => expect(api.of('POST', '/assessment-types')).toHaveLength(1));
    // Each message sits in its own field, tied to the control it is about
    const colour = within(form).getByLabelText('Colour');
    const colourError = await within(form).findByText('Colour refused by the API');
    expect(colour.closest('.field')!.contains(colourError)).toBe(true);
    expect(colour.getAttribute('aria-invalid')).toBe('true');
    expect(colour.getAttribute('aria-describedby')).toContain(colourError.id);
    const low = within(form).getByLabelText('Lowest score');
    const lowError = within(form).getByText('Lowest score refused by the API');
    expect(low.closest('.field')!.contains(lowError)).toBe(true);
    expect(low.closest('fieldset')!.textContent).toContain('Auto-assess CVSS range');
    expect(within(form).getByRole('alert').textContent).toContain('check the fields marked below');
    // Nothing typed was lost
    expect((within(form).getByLabelText('Name') as HTMLInputElement).value).toBe('Later');
    expect((low as HTMLInputElement).value).toBe('2');
    expect((within(form).getByLabelText('Highest score') as HTMLInputElement).value).toBe('5');
    expect((within(form).getByLabelText('Expiration (days)') as HTMLInputElement).value).toBe('90');
  });

  it('asks for both ends of the auto-assess range before sending', async () => {
    const api = fakeApi({ 'GET /assessment-types': page(BUILTINS) });
    render(<AdminScreen section="types" />);
    const form = await newTypeForm();
    await userEvent.type(within(form).getByLabelText('Name'), 'Half');
    await userEvent.type(within(form).getByLabelText('Lowest score'), '7');
    await userEvent.click(within(form).getByRole('button', { name: 'Add type' }));

    expect(within(form).getByText('Give both ends of the range, or leave both empty.')).toBeTruthy();
    expect(within(form).getByLabelText('Highest score').getAttribute('aria-invalid')).toBe('true');
    expect(api.of('POST', '/assessment-types')).toHaveLength(0);
  });

  it('edits a custom type with PATCH, its values prefilled', async () => {
    const api = fakeApi({
      'GET /assessment-types': page([...BUILTINS, WONTFIX]),
      'PATCH /assessment-types/wont-fix': (sent: Sent) => json(200, { ...WONTFIX, ...(sent.body as object) }),
    });
    render(<AdminScreen section="types" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Edit Wont fix' }));
    const form = await screen.findByRole('form', { name: 'Edit Wont fix' });
    expect((within(form).getByLabelText('Highest score') as HTMLInputElement).value).toBe('3.9');
    const days = within(form).getByLabelText('Expiration (days)');
    await userEvent.type(days, '30');
    await userEvent.click(within(form).getByRole('button', { name: 'Save changes' }));

    await waitFor(() => expect(api.of('PATCH', '/assessment-types/wont-fix')).toHaveLength(1));
    expect(api.of('PATCH', '/assessment-types/wont-fix')[0]!.body).toMatchObject({
      name: 'Wont fix',
      expiration_days: 30,
      color: '#1565c0',
      auto_assess: { min_cvss: 0, max_cvss: 3.9 },
    });
    expect(await screen.findByText('Assessment type Wont fix saved.')).toBeTruthy();
  });

  it('shows what a VEX export states of each type', async () => {
    fakeApi({
      'GET /assessment-types': page([
        ...BUILTINS,
        WONTFIX,
        { ...WONTFIX, id: 'fixed-here', name: 'Fixed here', vex_status: 'fixed' },
      ]),
    });
    render(<AdminScreen section="types" />);

    const vexOf = (name: string) => {
      const row = screen.getByText(name, { selector: '.badge-type' }).closest('tr')!;
      const column = screen.getAllByRole('columnheader').findIndex((header) => header.textContent === 'VEX status');
      return within(row).getAllByRole('cell')[column]!.textContent;
    };
    await screen.findByText('Ignore', { selector: '.badge-type' });
    expect(vexOf('Ignore')).toBe('Not affectedThe vulnerable code is not in the execute path');
    expect(vexOf('Unassessed')).toBe('Under investigation');
    expect(vexOf('Wont fix')).toBe('Affected (not set)');
    expect(vexOf('Fixed here')).toBe('Fixed');
  });

  it('sends the VEX status, and a justification only with Not affected', async () => {
    const api = fakeApi({
      'GET /assessment-types': page(BUILTINS),
      'POST /assessment-types': (sent: Sent) => json(201, { ...WONTFIX, ...(sent.body as object) }),
    });
    render(<AdminScreen section="types" />);
    const form = await newTypeForm();
    const status = within(form).getByLabelText('VEX status') as HTMLSelectElement;
    const justification = within(form).getByLabelText('VEX justification') as HTMLSelectElement;
    expect(status.value).toBe('');
    expect(justification.disabled).toBe(true);
    for (const other of ['Affected', 'Fixed', 'Under investigation']) {
      await userEvent.selectOptions(status, other);
      expect(justification.disabled, other).toBe(true);
    }

    await userEvent.selectOptions(status, 'Not affected');
    expect(justification.disabled).toBe(false);
    await userEvent.selectOptions(justification, 'Inline mitigations already exist');
    // Another status sets the justification aside (shown as None), and Not affected brings it back
    await userEvent.selectOptions(status, 'Fixed');
    expect(justification.disabled).toBe(true);
    expect(justification.value).toBe('');
    await userEvent.selectOptions(status, 'Not affected');
    expect(justification.value).toBe('inline_mitigations_already_exist');

    await userEvent.type(within(form).getByLabelText('Name'), 'Mitigated');
    await userEvent.click(within(form).getByRole('button', { name: 'Add type' }));
    await waitFor(() => expect(api.of('POST', '/assessment-types')).toHaveLength(1));
    expect(api.of('POST', '/assessment-types')[0]!.body).toMatchObject({
      name: 'Mitigated',
      vex_status: 'not_affected',
      vex_justification: 'inline_mitigations_already_exist',
    });
  });

  it('clears the justification when an edit moves a type off Not affected', async () => {
    const MITIGATED = {
      ...WONTFIX,
      id: 'mitigated',
      name: 'Mitigated',
      vex_status: 'not_affected',
      vex_justification: 'inline_mitigations_already_exist',
    };
    const api = fakeApi({
      'GET /assessment-types': page([...BUILTINS, MITIGATED]),
      'PATCH /assessment-types/mitigated': (sent: Sent) => json(200, { ...MITIGATED, ...(sent.body as object) }),
    });
    render(<AdminScreen section="types" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Edit Mitigated' }));
    const form = await screen.findByRole('form', { name: 'Edit Mitigated' });
    const status = within(form).getByLabelText('VEX status') as HTMLSelectElement;
    const justification = within(form).getByLabelText('VEX justification') as HTMLSelectElement;
    expect(status.value).toBe('not_affected');
    expect(justification.value).toBe('inline_mitigations_already_exist');
    expect(justification.disabled).toBe(false);

    await userEvent.selectOptions(status, 'Affected');
    await userEvent.click(within(form).getByRole('button', { name: 'Save changes' }));

    await waitFor(() => expect(api.of('PATCH', '/assessment-types/mitigated')).toHaveLength(1));
    expect(api.of('PATCH', '/assessment-types/mitigated')[0]!.body).toMatchObject({
      vex_status: 'affected',
      vex_justification: null,
    });
  });

  it("puts the API's 422 on the VEX fields next to them", async () => {
    fakeApi({
      'GET /assessment-types': page(BUILTINS),
      'POST /assessment-types': () =>
        json(422, {
          message: 'vex_justification is only for vex_status not_affected.',
          details: [
            {
              loc: ['body', 'vex_justification'],
              type: 'value_error',
              msg: 'vex_justification is only for vex_status not_affected.',
            },
          ],
        }),
    });
    render(<AdminScreen section="types" />);
    const form = await newTypeForm();
    await userEvent.type(within(form).getByLabelText('Name'), 'Refused');
    await userEvent.selectOptions(within(form).getByLabelText('VEX status'), 'Not affected');
    await userEvent.selectOptions(within(form).getByLabelText('VEX justification'), 'The component is not present');
    await userEvent.click(within(form).getByRole('button', { name: 'Add type' }));

    const justification = within(form).getByLabelText('VEX justification');
    const message = await within(form).findByText('vex_justification is only for vex_status not_affected.');
    expect(justification.closest('.field')!.contains(message)).toBe(true);
    expect(justification.getAttribute('aria-invalid')).toBe('true');
    expect(justification.getAttribute('aria-describedby')).toContain(message.id);
    expect(within(form).getByRole('alert').textContent).toContain('check the fields marked below');
    expect((within(form).getByLabelText('VEX status') as HTMLSelectElement).value).toBe('not_affected');
    expect((justification as HTMLSelectElement).value).toBe('component_not_present');
  });

  it('explains a delete refused because live assessments use the type', async () => {
    const api = fakeApi({
      'GET /assessment-types': page([...BUILTINS, WONTFIX]),
      'DELETE /assessment-types/wont-fix': () =>
        json(409, { message: 'Assessment type wont-fix is used by assessments in force.' }),
    });
    render(<AdminScreen section="types" />);
    await userEvent.click(await screen.findByRole('button', { name: 'Delete Wont fix' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete Wont fix?' });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Delete type' }));

    const alert = await within(dialog).findByRole('alert');
    expect(api.of('DELETE', '/assessment-types/wont-fix')).toHaveLength(1);
    expect(alert.textContent).toContain('used by assessments in force');
    expect(alert.textContent).toContain('Reassess those findings with another type');
    expect(within(dialog).queryByRole('button', { name: 'Delete type' })).toBeNull();
  });
});

describe('assessment types when feedguard cannot be reached', () => {
  beforeEach(() => {
      signInAsAdmin();
  });

  it('says so and keeps the form as typed on a 5xx', async () => {
    fakeApi({
      'GET /assessment-types': page(BUILTINS),
      'POST /assessment-types': () => json(503, { message: 'Service Unavailable' }),
    });
    render(<AdminScreen section="types" />);
    const form = await newTypeForm();
    await userEvent.type(within(form).getByLabelText('Name'), 'Kept');
    await userEvent.selectOptions(within(form).getByLabelText('Effect'), 'allow');
    await userEvent.click(within(form).getByRole('button', { name: 'Add type' }));

    expect((await within(form).findByRole('alert')).textContent).toContain('Service Unavailable');
    expect((within(form).getByLabelText('Name') as HTMLInputElement).value).toBe('Kept');
    expect((within(form).getByLabelText('Effect') as HTMLSelectElement).value).toBe('allow');
  });
});
