export { UrlModelFolder } from './url-model-folder.js';
export type { DownloadProgress, UrlModelFolderOptions } from './url-model-folder.js';
