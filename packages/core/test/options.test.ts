import { describe, expect, it } from 'vitest';
import { checkOptionNames } from '../src/index.js';

describe('checkOptionNames', () => {
  const known = ['device', 'dtype'];

  it('takes undefined and objects of known options', () => {
    expect(() => checkOptionNames(undefined, known, 'load options')).not.toThrow();
    expect(() => checkOptionNames({}, known, 'load options')).not.toThrow();
    expect(() => checkOptionNames({ device: 'cpu', dtype: undefined }, known, 'load options')).not.toThrow();
  });

  it('refuses a misspelt option and what is not an object, naming them', () => {
    expect(() => checkOptionNames({ devise: 'cpu' }, known, 'load options')).toThrow('load options.devise: is not an option here; the options are device, dtype');
    expect(() => checkOptionNames(null, known, 'load options')).toThrow('load options: must be an object, got null');
    expect(() => checkOptionNames(['cpu'], known, 'load options')).toThrow('load options: must be an object, got an array');
    expect(() => checkOptionNames('cpu', known, 'load options')).toThrow('load options: must be an object, got string');
  });
});
