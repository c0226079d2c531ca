import { accessSync, constants, statSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidInputError } from '../core/errors';
import { validateTeamName } from '../core/backlogTeam';
import { isTimeZone } from '../core/zonedTime';

/**
 * The command line's argument parsers, for commander's `argParser`: each checks one value when it is
 * parsed, before any work starts, and throws an `ArgumentError` naming the argument; `main` answers
 * it with exit code 2.
 */
export type ArgParser<T> = (value: string) => T;

/** A command-line argument is wrong: a usage error (exit 2), not a failure of the work (exit 1). */
export class ArgumentError extends InvalidInputError {
  constructor(argument: string, message: string) {
    super(message, { parameter: argument, code: 'invalid_argument' });
  }
}

const shown = (value: string) => JSON.stringify(value);

/** A whole number in [min, max], written in digits only (no sign, no exponent, no fraction). */
export function wholeNumber(name: string, { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {}): ArgParser<number> {
  const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
  return (value) => {
    const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new ArgumentError(name, `${name} must be a whole number, ${range}, got ${shown(value)}`);
    return n;
  };
}

export const positiveInt = (name: string): ArgParser<number> => wholeNumber(name, { min: 1 });
export const nonNegativeInt = (name: string): ArgParser<number> => wholeNumber(name, { min: 0 });
export const portNumber = (name: string): ArgParser<number> => wholeNumber(name, { min: 0, max: 65535 });

/** A decimal number from 0 to 1 (`0.1`, `.25`, `1`). */
export function fraction(name: string): ArgParser<number> {
  return (value) => {
    const n = /^(\d+(\.\d*)?|\.\d+)$/.test(value.trim()) ? Number(value.trim()) : NaN;
    if (!(n >= 0 && n <= 1)) throw new ArgumentError(name, `${name} must be a fraction from 0 to 1, such as 0.1, got ${shown(value)}`);
    return n;
  };
}

export function oneOf<T extends string>(name: string, choices: readonly T[]): ArgParser<T> {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) throw new ArgumentError(name, `${name} must be one of ${choices.join(', ')}, got ${shown(value)}`);
    return value as T;
  };
}

export function ianaTimeZone(name: string): ArgParser<string> {
  return (value) => {
    if (!isTimeZone(value)) throw new ArgumentError(name, `${name} must be an IANA time zone such as America/Chicago, got ${shown(value)}`);
    return value;
  };
}

export function teamName(name: string): ArgParser<string> {
  return (value) => {
    try {
      return validateTeamName(value, name);
    } catch (error) {
      throw new ArgumentError(name, (error as Error).message);
    }
  };
}

export function nonEmpty(name: string): ArgParser<string> {
  return (value) => {
    if (value.trim() === '') throw new ArgumentError(name, `${name} must not be empty`);
    return value;
  };
}

/** A file that exists and can be read, named in the message as given; `-` (stdin) passes when allowed. */
export function readableFile(name: string, { stdin = false }: { stdin?: boolean } = {}): ArgParser<string> {
  return (value) => {
    if (stdin && value === '-') return value;
    const fail = (why: string) => new ArgumentError(name, `${name} ${value}: ${why}`);
    let isDirectory: boolean;
    try {
      isDirectory = statSync(value).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw fail(code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? (error as Error).message})`);
    }
    if (isDirectory) throw fail('is a directory, not a file');
    try {
      accessSync(value, constants.R_OK);
    } catch (error) {
      throw fail(`cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    return value;
  };
}

/**
 * An option or argument of a given name means the same on every command (`--limit`, `--minutes`,
 * `<file>`, …), so its parser is chosen by name here, once; `checkArgumentsByName` gives it to every
 * option and argument of that name which has no parser of its own, in commands added later too.
 */
export const PARSERS_BY_NAME: Readonly<Record<string, (name: string) => ArgParser<unknown>>> = {
  '--limit': positiveInt,
  '--tenants': positiveInt,
  '--vms': positiveInt,
  '--keys': positiveInt,
  '--minutes': positiveInt,
  '--late': fraction,
  '--start': nonNegativeInt,
  '--seed': nonNegativeInt,
  '--heap-mb': nonNegativeInt,
  '--port': portNumber,
  '--host': nonEmpty,
  '--data-dir': nonEmpty,
  '--timezone': ianaTimeZone,
  '--team': teamName,
  '--key': nonEmpty,
  '--tenant': nonEmpty,
  '--time-column': nonEmpty,
  '--count-column': nonEmpty,
  file: (name) => readableFile(name.toUpperCase()),
};

/** Gives every option and argument of `program` and its subcommands, at any depth, its parser by name (see PARSERS_BY_NAME). */
export function checkArgumentsByName(program: Command): void {
  for (const option of program.options) {
    const parser = option.long === undefined ? undefined : PARSERS_BY_NAME[option.long];
    if (parser !== undefined && option.parseArg === undefined && option.required) option.argParser(parser(option.long!));
  }
  for (const argument of program.registeredArguments) {
    const parser = PARSERS_BY_NAME[argument.name()];
    if (parser !== undefined && argument.parseArg === undefined) argument.argParser(parser(argument.name()));
  }
  for (const command of program.commands) checkArgumentsByName(command);
}
