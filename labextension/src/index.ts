// The aieng_nb JupyterLab extension: the sidebar panel and the "Run notebook as job" command.
import { ILabShell, ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, ToolbarButton, WidgetTracker, MainAreaWidget } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IStateDB } from '@jupyterlab/statedb';
import { LabIcon } from '@jupyterlab/ui-components';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';
import { connectSaveComm } from './comm';
import { compareTab } from './compare';
import { htmlTab } from './htmlview';
import { Job } from './models';
import { AiengPanel } from './panel';
import { rerunJob, runNotebookAsJob } from './runjob';
import { runTab } from './runview';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
  '<path d="M3 20h18v2H3zM5 10h3v8H5zm5.5-6h3v14h-3zM16 13h3v5h-3z"/></g></svg>';

export const aiengIcon = new LabIcon({ name: 'aieng-nb:icon', svgstr: ICON_SVG });

export namespace CommandIDs {
  export const openPanel = 'aieng:open-panel';
  export const runAsJob = 'aieng:run-notebook-as-job';
  export const compare = 'aieng:compare-runs';
}

class RunAsJobButton implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  constructor(private _app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new ToolbarButton({
      icon: aiengIcon,
      label: 'Run as job',
      tooltip: 'Run notebook as job (aieng)',
      // this notebook, not whichever one the tracker calls current
      onClick: () => void this._app.commands.execute(CommandIDs.runAsJob, { path: panel.context.path })
    });
    button.addClass('aieng-run-as-job');
    panel.toolbar.insertItem(10, 'aieng-run-as-job', button);
    return new DisposableDelegate(() => button.dispose());
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'aieng-nb:plugin',
  description: 'aieng_nb sidebar panel and Run notebook as job',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer, IStateDB, ICommandPalette, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    restorer: ILayoutRestorer | null,
    state: IStateDB | null,
    palette: ICommandPalette | null
  ) => {
    const tabs = new WidgetTracker<MainAreaWidget<Widget>>({ namespace: 'aieng-tabs' });
    const open = (widget: MainAreaWidget<Widget>): void => {
      const existing = tabs.find(w => w.id === widget.id);
      if (existing) {
        widget.dispose();
        app.shell.activateById(existing.id);
        return;
      }
      void tabs.add(widget);
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
    };
    const openJob = (job: Job): void => open(htmlTab(`Job ${job.job_id}`, `jobs/${job.job_id}/output.html`));
    const runContext = {
      openHTML: (title: string, endPoint: string) => open(htmlTab(title, endPoint)),
      openNotebook: (path: string) => void app.commands.execute('docmanager:open', { path })
    };
    connectSaveComm(notebooks);
    const panel = new AiengPanel(
      {
        openHTML: (title, endPoint) => open(htmlTab(title, endPoint)),
        openCompare: runIds => open(compareTab(runIds)),
        openRun: (runId, label) => open(runTab(runId, runContext, label)),
        rerunJob: async (jobId, parameters) => {
          await rerunJob(jobId, parameters, openJob);
        }
      },
      state
    );
    panel.title.icon = aiengIcon;
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'aieng-panel');
    }
    void app.restored.then(() => panel.restore());

    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Open aieng panel',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.runAsJob, {
      label: 'Run notebook as job',
      caption: 'Run the current notebook as a tracked aieng job, with a form for its parameters',
      icon: aiengIcon,
      isEnabled: () => notebooks.currentWidget !== null,
      execute: async args => {
        const path = typeof args.path === 'string' ? args.path : null;
        const current = path ? notebooks.find(w => w.context.path === path) : notebooks.currentWidget;
        if (!current) {
          return;
        }
        if (current.context.model.dirty) {
          await current.context.save(); // the job runs what is on disk
        }
        await runNotebookAsJob(current.context.path, openJob);
      }
    });
    app.commands.addCommand(CommandIDs.compare, {
      label: 'Compare selected aieng runs',
      execute: () => {
        app.shell.activateById(panel.id);
        panel.show_('runs');
      }
    });
    if (palette) {
      for (const command of [CommandIDs.openPanel, CommandIDs.runAsJob]) {
        palette.addItem({ command, category: 'aieng' });
      }
    }
    app.docRegistry.addWidgetExtension('Notebook', new RunAsJobButton(app));
  }
};

export default plugin;
