// Generated HTML (reports, job outputs, snapshot profiles) in a main-area tab, inside a sandboxed iframe.
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import { requestHTML } from './handler';
import { h } from './dom';

export class HTMLView extends Widget {
  constructor(readonly endPoint: string) {
    super();
    this.addClass('aieng-ui');
    this.addClass('aieng-htmlview');
    this.node.append(h('div', { class: 'aieng-hint' }, 'Loading...'));
    void this.load();
  }

  async load(): Promise<void> {
    try {
      const html = await requestHTML(this.endPoint);
      // no allow-same-origin: the page's scripts (Evidently's) run in an opaque origin and cannot reach Jupyter
      const frame = h('iframe', { sandbox: 'allow-scripts', class: 'aieng-frame', title: this.endPoint });
      frame.srcdoc = html;
      this.node.replaceChildren(frame);
    } catch (error) {
      this.node.replaceChildren(h('div', { class: 'aieng-error' }, String((error as Error).message ?? error)));
    }
  }
}

export function htmlTab(title: string, endPoint: string): MainAreaWidget<HTMLView> {
  const widget = new MainAreaWidget({ content: new HTMLView(endPoint) });
  widget.id = `aieng-html-${endPoint.replace(/[^A-Za-z0-9]/g, '-')}`;
  widget.title.label = title;
  widget.title.closable = true;
  return widget;
}
