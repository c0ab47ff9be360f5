// "Run notebook as job": a form from the notebook's parameters cell, submit_job, a notification at the end.
import { Dialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import { h } from './dom';
import { APIError, postAPI, query, requestAPI } from './handler';
import { watcher } from './live';
import { Job, NotebookParameter, NotebookParameters } from './models';

const TERMINAL = ['COMPLETED', 'FAILED', 'TIMED_OUT', 'STOPPED'];
const SUCCESS_CLOSE_MS = 8000;

/** The form: one input per parameter, pre-filled with its default (strings as typed, others as literals). */
class ParameterForm extends Widget {
  private _inputs = new Map<string, HTMLInputElement>();

  constructor(parameters: NotebookParameter[], values: { [key: string]: unknown }, error = '', typed: { [key: string]: string } = {}) {
    super();
    this.addClass('aieng-ui');
    this.addClass('aieng-form');
    if (error) {
      this.node.append(h('div', { class: 'aieng-error', role: 'alert' }, error));
    }
    if (!parameters.length && !Object.keys(values).length) {
      this.node.append(h('p', {}, 'This notebook has no cell tagged "parameters": it runs as it is.'));
    }
    const names = new Map(parameters.map(p => [p.name, p]));
    for (const name of Object.keys(values)) {
      if (!names.has(name)) {
        names.set(name, { name, default: values[name], type: typeName(values[name]), help: '' });
      }
    }
    for (const p of names.values()) {
      const current = name_in(values, p.name) ? values[p.name] : p.default;
      const input = h('input', {
        class: 'jp-mod-styled aieng-input',
        name: p.name,
        'aria-label': p.name,
        'data-type': p.type
      });
      input.value = name_in(typed, p.name)
        ? typed[p.name]
        : typeof current === 'string' && p.type === 'str'
          ? current
          : current === undefined
            ? ''
            : literal(current);
      this._inputs.set(p.name, input);
      this.node.append(
        h('label', { class: 'aieng-field' }, h('span', { class: 'aieng-field-name' }, `${p.name} `, h('code', {}, p.type)), input, p.help ? h('span', { class: 'aieng-hint' }, p.help) : null)
      );
    }
  }

  /** Values as the CLI passes them (text); the server coerces them to the parameter types. */
  getValue(): { [key: string]: string } {
    const out: { [key: string]: string } = {};
    this._inputs.forEach((input, name) => (out[name] = input.value));
    return out;
  }
}

function typeName(value: unknown): string {
  if (typeof value === 'string') {
    return 'str';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? 'int' : 'float';
  }
  if (typeof value === 'boolean') {
    return 'bool';
  }
  return Array.isArray(value) ? 'list' : value === null ? 'None' : 'dict';
}

function name_in(values: { [key: string]: unknown }, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(values, name);
}

function literal(value: unknown): string {
  if (value === null) {
    return 'None';
  }
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  return typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value);
}

async function askParameters(
  title: string,
  parameters: NotebookParameter[],
  values: { [key: string]: unknown },
  error = '',
  typed: { [key: string]: string } = {}
): Promise<{ [key: string]: string } | null> {
  const result = await showDialog({
    title,
    body: new ParameterForm(parameters, values, error, typed),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Run job' })]
  });
  return result.button.accept ? (result.value as { [key: string]: string }) : null;
}

function outcome(job: Job): string {
  if (job.status === 'COMPLETED') {
    return job.checks_failed ? 'completed, checks failed' : 'completed';
  }
  const error = job.error as { cell_index?: number | null; cell_number?: number | null; ename?: string | null; evalue?: string | null; message?: string } | null;
  if (job.status === 'FAILED' && error) {
    const cell = error.cell_number ?? (typeof error.cell_index === 'number' ? error.cell_index + 1 : null); // 1-based, as JupyterLab counts
    const where = cell !== null ? ` in cell ${cell}` : '';
    return `failed${where}: ${error.ename ? `${error.ename}: ${error.evalue ?? ''}` : error.message ?? ''}`;
  }
  return job.status.toLowerCase();
}

/** Watch a job until it ends, then notify (with an action that opens its output). */
export function notifyWhenDone(job: Job, openOutput: (job: Job) => void): void {
  const id = Notification.emit(`Job ${job.job_id} ${job.status.toLowerCase()}…`, 'in-progress', { autoClose: false });
  const check = async (): Promise<void> => {
    let current: Job;
    try {
      current = await requestAPI<Job>(`jobs/${job.job_id}`);
    } catch {
      return;
    }
    if (!TERMINAL.includes(current.status)) {
      return;
    }
    watcher.changed.disconnect(check);
    watcher.release();
    const good = current.status === 'COMPLETED' && !current.checks_failed;
    Notification.update({
      id,
      message: `Job ${current.job_id} ${outcome(current)}`,
      type: good ? 'success' : current.status === 'COMPLETED' ? 'warning' : 'error',
      // JupyterLab's convention: a success closes by itself, a failure stays until dismissed
      autoClose: good ? SUCCESS_CLOSE_MS : false,
      actions: [{ label: 'Open job', callback: () => openOutput(current) }]
    });
  };
  watcher.changed.connect(check);
  watcher.acquire();
  void check();
}

/** Ask, submit; a rejected value (HTTP 400) shows the form again with the message and what was typed. */
async function askAndSubmit(
  title: string,
  parameters: NotebookParameter[],
  values: { [key: string]: unknown },
  submit: (typed: { [key: string]: string }) => Promise<Job>,
  openOutput: (job: Job) => void
): Promise<Job | null> {
  let error = '';
  let typed: { [key: string]: string } = {};
  for (;;) {
    const answer = await askParameters(title, parameters, values, error, typed);
    if (answer === null) {
      return null;
    }
    try {
      const job = await submit(answer);
      notifyWhenDone(job, openOutput);
      return job;
    } catch (e) {
      if (e instanceof APIError && e.status === 400) {
        error = e.message;
        typed = answer;
        continue;
      }
      await showErrorMessage(title, String((e as Error).message));
      return null;
    }
  }
}

/** The whole command: read the parameters cell, ask, submit through submit_job, notify at the end. */
export async function runNotebookAsJob(path: string, openOutput: (job: Job) => void): Promise<Job | null> {
  let info: NotebookParameters;
  try {
    info = await requestAPI<NotebookParameters>(`notebook-parameters${query({ path })}`);
  } catch (error) {
    await showErrorMessage('Run notebook as job', String((error as Error).message));
    return null;
  }
  return askAndSubmit(`Run ${path} as a job`, info.parameters, {}, typed => postAPI<Job>('jobs', { notebook: path, parameters: typed }), openOutput);
}

/** Re-run a job with its parameters, in the same form (types and help from its notebook's parameters cell). */
export async function rerunJob(jobId: string, parameters: { [key: string]: unknown }, openOutput: (job: Job) => void): Promise<Job | null> {
  let declared: NotebookParameter[] = [];
  try {
    declared = (await requestAPI<NotebookParameters>(`jobs/${encodeURIComponent(jobId)}/parameters`)).parameters;
  } catch {
    // the notebook is gone: the form still shows the job's own values
  }
  return askAndSubmit(`Re-run job ${jobId}`, declared, parameters, typed => postAPI<Job>(`jobs/${jobId}/rerun`, { parameters: typed }), openOutput);
}
