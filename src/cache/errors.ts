/**
 * Named errors of `artstore-db cache rebuild`. Each message is one line that names the thing at fault
 * and ends with the fix. Bad input exits 2 and nothing was changed; a rebuild that the database
 * refused exits 1 (its transaction was rolled back, so the cache is as it was).
 */
import { EnvironmentError, FailureError, RefusalError, UsageError } from '../errors.ts'

export class RootMissingError extends UsageError {
  constructor() {
    super("no attr.json folder given: pass --root <dir>, the storage element's base folder that holds YYYY/MM/DD/HH/")
  }
}

export class RootNotFolderError extends UsageError {
  constructor(root: string, reason: string) {
    super(`--root ${root} ${reason}: point --root at the storage element's base folder (the one that holds YYYY/MM/DD/HH/)`)
  }
}

export class ModuleWithoutCacheError extends UsageError {
  constructor(module: string) {
    super(`module ${module} has no file-metadata cache: use --module storage-element or --module query`)
  }
}

export class StorageElementIdMissingError extends UsageError {
  constructor(option: '--storage-element-id' | '--storage-element-url') {
    super(
      `the query cache keeps one storage element's files per rebuild: pass ${option} (e.g. --storage-element-id se-01 --storage-element-url http://se-01:8010)`,
    )
  }
}

export class StorageElementOptionError extends UsageError {
  constructor(option: string, reason: string) {
    super(`${option} ${reason}`)
  }
}

export class CacheTableMissingError extends EnvironmentError {
  constructor(table: string, pgSchema: string, deploy: string) {
    super(`table ${table} does not exist in schema ${pgSchema}: deploy the module first (${deploy})`)
  }
}

export class PruneEmptyRootError extends RefusalError {
  constructor(root: string, table: string, rows: number) {
    super(
      `--root ${root} holds no attr.json at all, and --prune would delete all ${rows} rows of ${table}: check --root (an unmounted volume?); if the element really is empty, delete the rows yourself`,
    )
  }
}

export class CacheRebuildFailedError extends FailureError {
  constructor(table: string, detail: string, written = 0) {
    super(
      written
        ? `cache rebuild of ${table} failed after writing ${written} rows, which stay as their files say; nothing was pruned (${detail}): fix the cause and run cache rebuild again`
        : `cache rebuild of ${table} failed before writing a row, the cache is unchanged (${detail}): fix the cause and run cache rebuild again`,
    )
  }
}

export class S3RootError extends UsageError {
  constructor(root: string, reason: string) {
    super(`--root ${root} ${reason}: give the bucket and the element's app folder, e.g. --root s3://artstore-files/storage_element_01`)
  }
}

export class S3SettingMissingError extends UsageError {
  constructor(variable: string) {
    super(
      `${variable} is not set, and an s3:// root needs it: set it as the storage element has it (STORAGE_S3_ENDPOINT_URL, STORAGE_S3_ACCESS_KEY_ID, STORAGE_S3_SECRET_ACCESS_KEY)`,
    )
  }
}

export class S3BucketMissingError extends EnvironmentError {
  constructor(bucket: string, endpoint: string) {
    super(`bucket ${bucket} does not exist at ${endpoint}: fix the bucket in --root, or STORAGE_S3_ENDPOINT_URL if this is the wrong server`)
  }
}

export class S3CredentialsRefusedError extends EnvironmentError {
  constructor(bucket: string, endpoint: string, code: string) {
    super(`${endpoint} refused the credentials for bucket ${bucket} (${code}): fix STORAGE_S3_ACCESS_KEY_ID and STORAGE_S3_SECRET_ACCESS_KEY`)
  }
}

export class S3UnreachableError extends EnvironmentError {
  constructor(endpoint: string, reason: string) {
    super(`cannot reach the S3 endpoint ${endpoint} (${reason}): start it, or fix STORAGE_S3_ENDPOINT_URL`)
  }
}

export class S3ListingFailedError extends FailureError {
  constructor(root: string, reason: string) {
    super(`listing ${root} failed after retries (${reason}): nothing was changed or pruned; run cache rebuild again when the bucket answers`)
  }
}
