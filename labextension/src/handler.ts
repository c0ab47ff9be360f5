// One typed client for the aieng REST API (/aieng/api/...), over Jupyter's authenticated connection.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

const settings = (): ServerConnection.ISettings => ServerConnection.makeSettings();

export function apiURL(endPoint: string): string {
  return URLExt.join(settings().baseUrl, 'aieng', 'api', endPoint);
}

async function send(endPoint: string, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(apiURL(endPoint), init, settings());
  } catch (error) {
    throw new APIError(`cannot reach the aieng server extension: ${String(error)}`, 0);
  }
  if (!response.ok) {
    let message = response.statusText;
    try {
      const body = (await response.json()) as { message?: string };
      message = body.message || message;
    } catch {
      // not JSON: keep the status text
    }
    throw new APIError(message, response.status);
  }
  return response;
}

/** GET (or POST with `body`) a JSON endpoint and return its typed body. */
export async function requestAPI<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
  const response = await send(endPoint, init);
  return (await response.json()) as T;
}

/** POST a JSON body. */
export function postAPI<T>(endPoint: string, body: unknown = {}): Promise<T> {
  return requestAPI<T>(endPoint, { method: 'POST', body: JSON.stringify(body) });
}

/** GET an HTML endpoint (reports, job outputs, profiles) as text. */
export async function requestHTML(endPoint: string): Promise<string> {
  const response = await send(endPoint, {});
  return response.text();
}

/** A query string from the defined, non-empty values. */
export function query(params: { [key: string]: string | number | undefined | null }): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
