import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as errorsA from './errors.js';
import {
  AddressInUse,
  CallCancelled,
  CallError,
  ConnectionClosed,
  ConnectionFailed,
  ConnectionLost,
  ConnectionTimeout,
  DeadlineExceeded,
  FrameTooLarge,
  MessageTooLarge,
  HandshakeRejected,
  HandshakeTimeout,
  InvalidArgument,
  InvalidEndpoint,
  ProtocolError,
  RemoteError,
  TransportError,
  WirecallError,
} from './errors.js';
import { Status } from './status.js';

type ErrorsModule = typeof errorsA;
type ClassName = keyof ErrorsModule & string;

/** Every class, its stable code, and its parent in the documented hierarchy. */
const HIERARCHY: ReadonlyArray<{ name: ClassName; code: string; parent: ClassName | null }> = [
  { name: 'WirecallError', code: 'ERR_WIRECALL', parent: null },
  { name: 'InvalidEndpoint', code: 'ERR_INVALID_ENDPOINT', parent: 'WirecallError' },
  { name: 'InvalidOption', code: 'ERR_INVALID_OPTION', parent: 'WirecallError' },
  { name: 'TransportError', code: 'ERR_TRANSPORT', parent: 'WirecallError' },
  { name: 'ConnectionFailed', code: 'ERR_CONNECTION_FAILED', parent: 'TransportError' },
  { name: 'ConnectionTimeout', code: 'ERR_CONNECTION_TIMEOUT', parent: 'TransportError' },
  { name: 'HandshakeTimeout', code: 'ERR_HANDSHAKE_TIMEOUT', parent: 'ConnectionTimeout' },
  { name: 'ConnectionClosed', code: 'ERR_CONNECTION_CLOSED', parent: 'TransportError' },
  { name: 'ConnectionLost', code: 'ERR_CONNECTION_LOST', parent: 'TransportError' },
  { name: 'AddressInUse', code: 'ERR_ADDRESS_IN_USE', parent: 'TransportError' },
  { name: 'FrameTooLarge', code: 'ERR_FRAME_TOO_LARGE', parent: 'TransportError' },
  { name: 'ProtocolError', code: 'ERR_PROTOCOL', parent: 'TransportError' },
  { name: 'HandshakeRejected', code: 'ERR_HANDSHAKE_REJECTED', parent: 'TransportError' },
  { name: 'LimitExceeded', code: 'ERR_LIMIT_EXCEEDED', parent: 'TransportError' },
  { name: 'TlsError', code: 'ERR_TLS', parent: 'TransportError' },
  { name: 'CertificateUntrusted', code: 'ERR_TLS_CERT_UNTRUSTED', parent: 'TlsError' },
  { name: 'CertificateNameMismatch', code: 'ERR_TLS_CERT_NAME_MISMATCH', parent: 'TlsError' },
  { name: 'CertificateExpired', code: 'ERR_TLS_CERT_EXPIRED', parent: 'TlsError' },
  { name: 'ClientCertificateRequired', code: 'ERR_TLS_CLIENT_CERT_REQUIRED', parent: 'TlsError' },
  { name: 'TlsRequired', code: 'ERR_TLS_REQUIRED', parent: 'TlsError' },
  { name: 'TlsNotOffered', code: 'ERR_TLS_NOT_OFFERED', parent: 'TlsError' },
  { name: 'CallError', code: 'ERR_CALL', parent: 'WirecallError' },
  { name: 'RemoteError', code: 'ERR_REMOTE', parent: 'CallError' },
  { name: 'DeadlineExceeded', code: 'ERR_DEADLINE_EXCEEDED', parent: 'CallError' },
  { name: 'CallCancelled', code: 'ERR_CANCELLED', parent: 'CallError' },
  { name: 'InvalidArgument', code: 'ERR_INVALID_ARGUMENT', parent: 'CallError' },
  { name: 'StreamClosed', code: 'ERR_STREAM_CLOSED', parent: 'CallError' },
  { name: 'NotSupported', code: 'ERR_NOT_SUPPORTED', parent: 'CallError' },
  { name: 'MessageTooLarge', code: 'ERR_MESSAGE_TOO_LARGE', parent: 'CallError' },
  { name: 'ManagerError', code: 'ERR_MANAGER', parent: 'WirecallError' },
  { name: 'ServiceNotFound', code: 'ERR_SERVICE_NOT_FOUND', parent: 'ManagerError' },
  { name: 'ServiceAlreadyRegistered', code: 'ERR_SERVICE_ALREADY_REGISTERED', parent: 'ManagerError' },
  { name: 'PoolExhausted', code: 'ERR_POOL_EXHAUSTED', parent: 'ManagerError' },
  { name: 'AcquireTimeout', code: 'ERR_ACQUIRE_TIMEOUT', parent: 'ManagerError' },
  { name: 'SessionNotFound', code: 'ERR_SESSION_NOT_FOUND', parent: 'ManagerError' },
  { name: 'InvalidSessionState', code: 'ERR_INVALID_SESSION_STATE', parent: 'ManagerError' },
  { name: 'ReconnectionFailed', code: 'ERR_RECONNECTION_FAILED', parent: 'ManagerError' },
  { name: 'ShutdownError', code: 'ERR_SHUTDOWN', parent: 'ManagerError' },
  { name: 'RegistryFileError', code: 'ERR_REGISTRY_FILE', parent: 'ManagerError' },
  { name: 'SerializationError', code: 'ERR_SERIALIZATION', parent: 'ManagerError' },
  { name: 'InternalError', code: 'ERR_INTERNAL', parent: 'WirecallError' },
];

function ancestorsOf(name: ClassName): Set<ClassName> {
  const out = new Set<ClassName>();
  for (let n: ClassName | null = name; n !== null; n = HIERARCHY.find((h) => h.name === n)!.parent) out.add(n);
  return out;
}

type AnyErrorClass = abstract new (...args: never[]) => errorsA.WirecallError;

/** An instance of `name` from module `m`, built with arguments its constructor expects. */
function make(m: ErrorsModule, name: ClassName, message = 'boom'): errorsA.WirecallError {
  switch (name) {
    case 'InvalidEndpoint':
      return new m.InvalidEndpoint('tcp://nowhere:x', message);
    case 'FrameTooLarge':
      return new m.FrameTooLarge(100, 10);
    case 'MessageTooLarge':
      return new m.MessageTooLarge(100, 10);
    case 'HandshakeRejected':
      return new m.HandshakeRejected('VERSION_MISMATCH', message);
    case 'RemoteError':
      return new m.RemoteError(Status.PERMISSION_DENIED, message);
    default: {
      const C = m[name] as unknown as new (msg: string) => errorsA.WirecallError;
      return new C(message);
    }
  }
}

function cls(m: ErrorsModule, name: ClassName): AnyErrorClass {
  return m[name] as unknown as AnyErrorClass;
}

// ------------------------------------------------------------------ one copy

describe('error classes', () => {
  it('export exactly the documented classes', () => {
    const exported = Object.entries(errorsA)
      .filter(([, v]) => typeof v === 'function')
      .map(([k]) => k)
      .sort();
    expect(exported).toEqual(HIERARCHY.map((h) => h.name).sort());
  });

  it.each(HIERARCHY)('$name has code $code, name $name, and the static code', ({ name, code }) => {
    const err = make(errorsA, name);
    expect(err.code).toBe(code);
    expect(err.name).toBe(name);
    expect((errorsA[name] as unknown as { code: string }).code).toBe(code);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toMatch(new RegExp(`^${name}: `));
    expect(Object.prototype.toString.call(err)).toBe('[object Error]');
  });

  it.each(HIERARCHY)('$name is instanceof exactly its ancestors', ({ name }) => {
    const err = make(errorsA, name);
    const ancestors = ancestorsOf(name);
    for (const other of HIERARCHY) {
      expect(err instanceof cls(errorsA, other.name), `${name} instanceof ${other.name}`).toBe(ancestors.has(other.name));
    }
  });

  it('HandshakeTimeout is a ConnectionTimeout, a TransportError and a WirecallError, not a CallError', () => {
    const err = new HandshakeTimeout('handshake took too long');
    expect(err).toBeInstanceOf(HandshakeTimeout);
    expect(err).toBeInstanceOf(ConnectionTimeout);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toBeInstanceOf(WirecallError);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(CallError);
    expect(err).not.toBeInstanceOf(ConnectionFailed);
    // ...and a plain ConnectionTimeout is not a HandshakeTimeout.
    expect(new ConnectionTimeout('x')).not.toBeInstanceOf(HandshakeTimeout);
  });

  it('are not instanceof for plain errors, look-alikes and primitives', () => {
    const lookAlike = Object.assign(new Error('x'), { name: 'ProtocolError', code: 'ERR_PROTOCOL' });
    const plainObject = { name: 'WirecallError', code: 'ERR_WIRECALL', message: 'x' };
    for (const v of [new Error('x'), new TypeError('x'), lookAlike, plainObject, {}, [], null, undefined, 0, 'ProtocolError', Symbol('x'), () => {}]) {
      for (const h of HIERARCHY) expect(v instanceof cls(errorsA, h.name)).toBe(false);
    }
  });

  it('pass a cause through, and have none when none is given', () => {
    const cause = new Error('root');
    expect(new ProtocolError('bad', { cause }).cause).toBe(cause);
    expect(new RemoteError(Status.METHOD_ERROR, 'x', { cause }).cause).toBe(cause);
    expect('cause' in new ProtocolError('bad')).toBe(false);
    expect('cause' in new ProtocolError('bad', {})).toBe(false);
    // A falsy cause is still a cause.
    expect(new ConnectionLost('x', { cause: 0 }).cause).toBe(0);
  });

  it('keep the brand non-enumerable and frozen', () => {
    const err = new HandshakeTimeout('x');
    const brand = Symbol.for('wirecall.error.kinds');
    expect(Object.keys(err)).not.toContain(brand.toString());
    expect(Object.getOwnPropertyDescriptor(err, brand)?.enumerable).toBe(false);
    expect(Object.isFrozen((err as unknown as Record<symbol, unknown>)[brand])).toBe(true);
    expect(Object.prototype.propertyIsEnumerable.call(err, brand)).toBe(false);
    expect(brand in { ...err }).toBe(false); // spreading/cloning drops it; only real instances carry it
    expect(Reflect.ownKeys(err)).toContain(brand);
  });

  it('carry their extra fields', () => {
    const endpoint = new InvalidEndpoint('bogus://x', 'unknown scheme');
    expect(endpoint.endpoint).toBe('bogus://x');
    expect(endpoint.message).toContain('"bogus://x"');
    expect(endpoint.message).toContain('unknown scheme');

    const tooLarge = new FrameTooLarge(2000, 1000);
    expect([tooLarge.size, tooLarge.limit]).toEqual([2000, 1000]);
    expect(tooLarge.message).toContain('incoming');
    expect(new MessageTooLarge(5, 4, 'call').message).toBe("call of 5 bytes exceeds the peer's limit of 4 bytes");

    const rejected = new HandshakeRejected('UNAUTHENTICATED', 'bad token');
    expect(rejected.reason).toBe('UNAUTHENTICATED');
    expect(rejected.message).toContain('UNAUTHENTICATED');
    expect(rejected.message).toContain('bad token');
  });

  it('map call errors to their wire status', () => {
    expect(new CallError('x').status).toBe(Status.SERVER_ERROR);
    expect(new DeadlineExceeded('x').status).toBe(Status.DEADLINE_EXCEEDED);
    expect(new CallCancelled('x').status).toBe(Status.CANCELLED);
    expect(new InvalidArgument('x').status).toBe(Status.INVALID_ARGUMENT);
  });
});

describe('RemoteError', () => {
  it('carries status, remoteCode, remoteName, data, remoteStack and statusName', () => {
    const data = { path: '/x', tries: [1, 2] };
    const err = new RemoteError(Status.PERMISSION_DENIED, 'no access', {
      remoteCode: 'EACCES',
      remoteName: 'PermissionError',
      data,
      remoteStack: 'PermissionError: no access\n    at handler',
    });
    expect(err.status).toBe(Status.PERMISSION_DENIED);
    expect(err.statusName).toBe('PERMISSION_DENIED');
    expect(err.remoteCode).toBe('EACCES');
    expect(err.remoteName).toBe('PermissionError');
    expect(err.data).toBe(data);
    expect(err.remoteStack).toContain('at handler');
    expect(err.message).toBe('no access');
    // The class code stays the class code; the handler's code is remoteCode.
    expect(err.code).toBe('ERR_REMOTE');
    expect(err.name).toBe('RemoteError');
    expect(err).toBeInstanceOf(CallError);
    expect(err).toBeInstanceOf(WirecallError);
    expect(err).not.toBeInstanceOf(TransportError);
  });

  it('has defaults for the optional fields', () => {
    const err = new RemoteError(Status.METHOD_ERROR, 'oops');
    expect(err.remoteCode).toBeUndefined();
    expect(err.remoteName).toBe('Error');
    expect(err.data).toBeUndefined();
    expect(err.remoteStack).toBeUndefined();
    expect(err.statusName).toBe('METHOD_ERROR');
  });

  it('names every known status, and unknown ones by number', () => {
    for (const [key, value] of Object.entries(Status)) {
      expect(new RemoteError(value, 'x').statusName).toBe(key);
    }
    expect(new RemoteError(99 as Status, 'x').statusName).toBe('STATUS_99');
  });

  it('keeps its status (not CallError’s default) as an enumerable own property', () => {
    const err = new RemoteError(Status.UNAVAILABLE, 'x');
    expect(err.status).toBe(Status.UNAVAILABLE);
    expect(Object.getOwnPropertyDescriptor(err, 'status')?.enumerable).toBe(true);
    expect({ ...err }.status).toBe(Status.UNAVAILABLE);
  });
});

describe('subclasses defined by users', () => {
  it('work when they declare their own kind', () => {
    class NotFound extends RemoteError {
      static override readonly kind: string = 'NotFound';
      constructor(what: string) {
        super(Status.METHOD_ERROR, `${what} not found`, { remoteCode: 'ENOENT' });
      }
    }
    const err = new NotFound('file');
    expect(err).toBeInstanceOf(NotFound);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toBeInstanceOf(CallError);
    expect(err).toBeInstanceOf(WirecallError);
    expect(new RemoteError(Status.METHOD_ERROR, 'x')).not.toBeInstanceOf(NotFound);
  });

  // BUG (errors.ts, WirecallError constructor lines 78-81): the brand is collected by
  // walking the constructor chain only while each class has an *own* static `kind`.
  // A subclass that does not redeclare `kind` (the ordinary way to subclass) stops the
  // walk at once, so its instances get an empty brand and fail every instanceof check,
  // even against their own class and RemoteError. Consequence: connection.ts
  // errorToBody (`err instanceof RemoteError`, line ~970) does not recognise it and a
  // handler's chosen status is sent as METHOD_ERROR.
  it('work without redeclaring kind (class NotFound extends RemoteError {})', () => {
    class NotFound extends RemoteError {}
    const err = new NotFound(Status.PERMISSION_DENIED, 'nope');
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toBeInstanceOf(CallError);
    expect(err).toBeInstanceOf(WirecallError);
    expect(err).toBeInstanceOf(NotFound);
  });

  // Same root cause, other direction: NotFound.kind is inherited ('RemoteError'), so
  // every RemoteError passes `instanceof NotFound`.
  it('a plain RemoteError is not instanceof a subclass that did not redeclare kind', () => {
    class NotFound extends RemoteError {}
    expect(new RemoteError(Status.METHOD_ERROR, 'x')).not.toBeInstanceOf(NotFound);
  });
});

// ------------------------------------------------------------------ two copies

/**
 * A second (and third) installed copy of the package: errors.ts and status.ts compiled
 * with the project's build settings (tsconfig.build.json) into fresh temp dirs, as
 * `npm run build` would write dist/src/errors.js and dist/src/status.js. Compiling just
 * these two files keeps the shared dist/ of a repo other people are building untouched.
 */
const SRC = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(SRC);
let tempRoot = '';
let errorsB: ErrorsModule;
let errorsC: ErrorsModule;

function compileCopy(outDir: string): void {
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.build.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (parsed === undefined) throw new Error('cannot read tsconfig.build.json');
  const options: ts.CompilerOptions = {
    ...parsed.options,
    rootDir: SRC,
    outDir,
    declaration: false,
    sourceMap: false,
    noEmitOnError: true,
  };
  const program = ts.createProgram([path.join(SRC, 'errors.ts'), path.join(SRC, 'status.ts')], options);
  const result = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
  if (result.emitSkipped || diagnostics.length > 0) {
    throw new Error(ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' }));
  }
  fs.writeFileSync(path.join(outDir, 'package.json'), JSON.stringify({ name: 'wirecall', type: 'module' }));
}

beforeAll(async () => {
  tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'wirecall-errors-'));
  const dirB = path.join(tempRoot, 'b', 'node_modules', 'wirecall', 'dist', 'src');
  const dirC = path.join(tempRoot, 'c', 'node_modules', 'wirecall', 'dist', 'src');
  fs.mkdirSync(dirB, { recursive: true });
  compileCopy(dirB);
  // The third copy is a byte-for-byte copy of the second, in another place.
  fs.mkdirSync(dirC, { recursive: true });
  for (const f of fs.readdirSync(dirB)) fs.copyFileSync(path.join(dirB, f), path.join(dirC, f));
  errorsB = (await import(/* @vite-ignore */ pathToFileURL(path.join(dirB, 'errors.js')).href)) as ErrorsModule;
  errorsC = (await import(/* @vite-ignore */ pathToFileURL(path.join(dirC, 'errors.js')).href)) as ErrorsModule;
});

afterAll(() => {
  if (tempRoot !== '') fs.rmSync(tempRoot, { recursive: true, force: true });
});

describe('instanceof across two copies of the package', () => {
  it('the copies really are distinct classes', () => {
    expect(errorsB.WirecallError).not.toBe(errorsA.WirecallError);
    expect(errorsC.WirecallError).not.toBe(errorsB.WirecallError);
    expect(Object.getPrototypeOf(make(errorsB, 'ProtocolError'))).not.toBe(ProtocolError.prototype);
    // Without the brand, the prototype chain alone would say no.
    expect(Function.prototype[Symbol.hasInstance].call(errorsA.ProtocolError, make(errorsB, 'ProtocolError'))).toBe(false);
  });

  const pairs: ReadonlyArray<[string, () => ErrorsModule, () => ErrorsModule]> = [
    ['source → compiled', () => errorsA, () => errorsB],
    ['compiled → source', () => errorsB, () => errorsA],
    ['compiled → other compiled', () => errorsB, () => errorsC],
    ['other compiled → compiled', () => errorsC, () => errorsB],
  ];

  it.each(pairs)('%s: an error made by one copy is instanceof exactly its ancestors in the other', (_label, from, to) => {
    for (const made of HIERARCHY) {
      const err = make(from(), made.name);
      const ancestors = ancestorsOf(made.name);
      for (const other of HIERARCHY) {
        expect(err instanceof cls(to(), other.name), `${made.name} instanceof ${other.name}`).toBe(ancestors.has(other.name));
      }
      expect(err.code).toBe(made.code);
      expect(err.name).toBe(made.name);
    }
  });

  it('HandshakeTimeout from copy B is a ConnectionTimeout, TransportError, WirecallError of copy A, not a CallError', () => {
    const err = new errorsB.HandshakeTimeout('late');
    expect(err).toBeInstanceOf(HandshakeTimeout);
    expect(err).toBeInstanceOf(ConnectionTimeout);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toBeInstanceOf(WirecallError);
    expect(err).not.toBeInstanceOf(CallError);
    expect(err).not.toBeInstanceOf(ConnectionClosed);
    const back = new HandshakeTimeout('late');
    expect(back).toBeInstanceOf(errorsB.ConnectionTimeout);
    expect(back).not.toBeInstanceOf(errorsB.CallError);
  });

  it('RemoteError from another copy keeps its fields', () => {
    const err = new errorsB.RemoteError(Status.UNAUTHENTICATED, 'who?', { remoteCode: 'E_AUTH', data: [1] });
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toBeInstanceOf(CallError);
    expect(err).not.toBeInstanceOf(DeadlineExceeded);
    expect(err.statusName).toBe('UNAUTHENTICATED');
    expect(err.remoteCode).toBe('E_AUTH');
    expect(err.data).toEqual([1]);
  });

  it('plain Errors and unrelated objects are not instanceof any copy’s classes', () => {
    const values: unknown[] = [
      new Error('x'),
      new RangeError('x'),
      Object.assign(new Error('x'), { name: 'HandshakeTimeout', code: 'ERR_HANDSHAKE_TIMEOUT' }),
      { name: 'CallError', code: 'ERR_CALL' },
      Object.create(null) as object,
      null,
      undefined,
      'WirecallError',
      42,
    ];
    for (const m of [errorsA, errorsB, errorsC]) {
      for (const v of values) {
        for (const h of HIERARCHY) expect(v instanceof cls(m, h.name)).toBe(false);
      }
    }
  });

  it('unrelated errors of one copy are not instanceof the other copy’s unrelated classes', () => {
    expect(new errorsB.DeadlineExceeded('x')).not.toBeInstanceOf(CallCancelled);
    expect(new errorsB.AddressInUse('x')).not.toBeInstanceOf(ConnectionFailed);
    expect(new FrameTooLarge(2, 1)).not.toBeInstanceOf(errorsB.ProtocolError);
    expect(new InvalidArgument('x')).not.toBeInstanceOf(errorsC.InvalidEndpoint);
    expect(new InvalidEndpoint('x', 'y')).not.toBeInstanceOf(errorsC.TransportError);
    expect(new AddressInUse('x')).not.toBeInstanceOf(errorsC.ConnectionLost);
  });
});
