/**
 * Whether `response` is a web page a server sent in place of the file at `url`. Servers of
 * single-page apps (Vite's preview and dev servers, many static hosts) answer any missing
 * path with their index.html and status 200; no model file is HTML, so a text/html answer
 * for a name that does not end in .html means the file is not there.
 */
export function isHtmlFallback(url: string, response: Response): boolean {
  const mediaType = response.headers.get('content-type')?.split(';')[0].trim().toLowerCase();
  return mediaType === 'text/html' && !/\.html?$/i.test(url.split(/[?#]/)[0]);
}
