// The frontend side of the kernel's `aieng_nb` comm (aieng_nb/magics/frontend_comm.py): at `%aieng end` the
// kernel asks to save the notebook, so the run attaches the current copy, not an older one on disk.
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';

export const COMM_TARGET = 'aieng_nb';
const CAPABILITIES = { capabilities: ['save'] };

function onMessage(panel: NotebookPanel): (msg: KernelMessage.ICommMsgMsg) => void {
  return msg => {
    const data = msg.content.data as { action?: string; path?: string };
    if (data.action === 'save' && !panel.isDisposed) {
      void panel.context.save();
    }
  };
}

const attached = new WeakSet<Kernel.IKernelConnection>();

function attach(panel: NotebookPanel, kernel: Kernel.IKernelConnection): void {
  if (!kernel.handleComms || attached.has(kernel)) {
    return;
  }
  attached.add(kernel);
  // the kernel opens the comm at `%load_ext aieng_nb`
  kernel.registerCommTarget(COMM_TARGET, comm => {
    comm.onMsg = onMessage(panel);
    comm.send(CAPABILITIES);
  });
  // a kernel that loaded the extension before this page connected (a reload) has the target already;
  // one that has not closes this comm again, which is fine
  const comm = kernel.createComm(COMM_TARGET);
  comm.onMsg = onMessage(panel);
  try {
    comm.open(CAPABILITIES);
  } catch {
    // the kernel went away meanwhile
  }
}

/** Listen on the kernel of every notebook (and each new kernel after a change or restart). */
export function connectSaveComm(notebooks: INotebookTracker): void {
  notebooks.widgetAdded.connect((_, panel) => {
    const session = panel.sessionContext;
    const hook = (): void => {
      const kernel = session.session?.kernel;
      if (kernel) {
        attach(panel, kernel);
      }
    };
    session.kernelChanged.connect(hook);
    void session.ready.then(hook);
  });
}
