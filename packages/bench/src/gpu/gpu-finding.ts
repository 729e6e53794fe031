import type { GpuDevice } from '@qwen-vl/test-support';

/** Whether this machine has a GPU device: what it is, or why it is not there. */
export type GpuFinding = { readonly device: GpuDevice; readonly present: true; readonly what: string } | { readonly device: GpuDevice; readonly present: false; readonly reason: string };

export function presentDevices(findings: readonly GpuFinding[]): GpuDevice[] {
  return findings.filter((finding) => finding.present).map((finding) => finding.device);
}

/** One line per device that is not here: `cuda: <why>`. */
export function absenceLines(findings: readonly GpuFinding[]): string[] {
  return findings.flatMap((finding) => (finding.present ? [] : [`${finding.device}: ${finding.reason}`]));
}
