// Copies node and credential icons next to the compiled files, where n8n looks for `file:` icons,
// and each node's codex file (<Node>.node.json: categories, aliases for the node search), which
// n8n reads beside the compiled <Node>.node.js.
const { src, dest } = require('gulp');

function buildIcons() {
	return src(['nodes/**/*.{png,svg,json}', 'credentials/**/*.{png,svg}'], {
		base: '.',
		encoding: false,
	}).pipe(dest('dist'));
}

exports['build:icons'] = buildIcons;
