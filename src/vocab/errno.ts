// The words for a file-system errno, as tend says them in every message about a path
// (strerror's, shortened where the path is already named). Callers add what only they
// know: the pipe timeout of a manifest, the socket that does not answer.

const WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
  ELOOP: 'too many symbolic links',
  ENOEXEC: 'exec format error',
  ENAMETOOLONG: 'name too long',
  EROFS: 'read-only file system',
};

/** "no such file" for ENOENT; the code itself when there are no better words. */
export function errnoText(code: string | undefined): string {
  return code === undefined ? 'unknown error' : WORDS[code] ?? code;
}
