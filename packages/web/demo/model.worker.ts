import { serveQwenVLWorker } from '@qwen-vl/web';

// The page's model lives here: loading and generating off the page's thread keeps it drawing
// while the answer streams in.
serveQwenVLWorker();
