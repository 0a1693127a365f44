/** An API failure in words: what went wrong, and what the user can do about it. */
export interface Explained {
  title: string;
  hint: string;
}

export function explainError(what: string, status: number | undefined, body: string): Explained {
  const detail = body.trim().slice(0, 300);
  if (status === undefined) {
    return {
      title: `Could not reach the cluster while loading ${what}.`,
      hint: 'Check that the cluster is up (`dcos up` prints its URL) and that this page was opened from that URL; the view retries on its own.',
    };
  }
  if (status === 401 || status === 403)
    return { title: `Not allowed to read ${what} (HTTP ${status}).`, hint: 'Log in again or ask an administrator for access.' };
  if (status === 404)
    return { title: `${what} was not found (HTTP 404).`, hint: detail ? `The server said: ${detail}` : 'It may have been removed; go back to the list.' };
  if (status === 502 || status === 503 || status === 504) {
    return {
      title: `The component serving ${what} did not answer (HTTP ${status}).`,
      hint: 'It may be restarting; the view retries on its own. If it lasts, check `dcos node list`.',
    };
  }
  if (status >= 500)
    return {
      title: `The server failed while serving ${what} (HTTP ${status}).`,
      hint: detail ? `The server said: ${detail}` : 'Try again; if it lasts, look at the master log.',
    };
  return { title: `The request for ${what} was refused (HTTP ${status}).`, hint: detail || 'Reload the page; if it lasts, report it with this message.' };
}
