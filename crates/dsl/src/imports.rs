//! `import "lib" as lib;`: modules come from the job file's folder and nowhere else.
//!
//! `"lib"` and `"lib/common"` name `lib.rhai` and `lib/common.rhai` in that folder. Absolute
//! paths, `..`, and links that lead outside the folder are refused; so is every import when the
//! job file was not read from a folder. Each module is evaluated once per evaluation, with the
//! same limits as the job file; an import cycle and more than [`MAX_MODULES`] modules are errors.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

use crate::sandbox::MAX_MODULES;
use crate::units;

/// The extension of job files and modules.
const EXTENSION: &str = "rhai";
/// The largest module file read, in bytes.
const MAX_MODULE_BYTES: u64 = 1 << 20;
/// Why an import that leaves the folder is refused.
const ONLY_INSIDE: &str = "imports resolve only inside the job file's folder";

/// Resolves imports in one job file's folder.
pub(crate) struct JobFolderResolver {
    folder: Option<PathBuf>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Modules evaluated so far, by file.
    loaded: BTreeMap<PathBuf, Shared<Module>>,
    /// Modules being evaluated, outermost first, to catch a cycle.
    loading: Vec<PathBuf>,
}

impl JobFolderResolver {
    pub(crate) fn new(folder: Option<&Path>) -> JobFolderResolver {
        JobFolderResolver { folder: folder.map(Path::to_path_buf), state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The file `path` names, checked to be inside the folder.
    fn file_of(&self, path: &str) -> Result<PathBuf, String> {
        let Some(folder) = &self.folder else {
            return Err(format!(
                "cannot import \"{path}\": {ONLY_INSIDE}, and this job file was not read from a folder"
            ));
        };
        let relative = Path::new(path);
        let escapes = relative.components().any(|part| !matches!(part, Component::Normal(_) | Component::CurDir));
        if path.is_empty() || escapes {
            return Err(format!(
                "cannot import \"{path}\": {ONLY_INSIDE}; name a file there, as in import \"lib\" as lib;"
            ));
        }
        let mut file = folder.join(relative);
        if file.extension().is_none_or(|extension| extension != EXTENSION) {
            file.as_mut_os_string().push(format!(".{EXTENSION}"));
        }
        let shown = file.display().to_string();
        let base = if folder.as_os_str().is_empty() { Path::new(".") } else { folder.as_path() };
        let real_folder = base.canonicalize().map_err(|error| format!("cannot import \"{path}\": {shown}: {error}"))?;
        let real_file =
            file.canonicalize().map_err(|error| format!("cannot import \"{path}\": cannot read {shown}: {error}"))?;
        if !real_file.starts_with(&real_folder) {
            return Err(format!("cannot import \"{path}\": {ONLY_INSIDE}, and {shown} links outside it"));
        }
        Ok(file)
    }

    /// Reads, compiles and evaluates `file`, whose diagnostics name it as `shown`.
    fn load(
        &self,
        engine: &Engine,
        file: &Path,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let shown = file.display().to_string();
        let fail = |message: String| Box::new(EvalAltResult::ErrorRuntime(message.into(), pos));
        let size =
            std::fs::metadata(file).map_err(|error| fail(format!("cannot import \"{path}\": {shown}: {error}")))?;
        if size.len() > MAX_MODULE_BYTES {
            return Err(fail(format!("cannot import \"{path}\": {shown} is larger than {MAX_MODULE_BYTES} bytes")));
        }
        let source = std::fs::read_to_string(file)
            .map_err(|error| fail(format!("cannot import \"{path}\": {shown}: {error}")))?;
        let in_module = |error: Box<EvalAltResult>| Box::new(EvalAltResult::ErrorInModule(shown.clone(), error, pos));
        let mut ast =
            engine.compile_with_scope(&units::declarations(), source).map_err(|error| in_module(error.into()))?;
        ast.set_source(shown.as_str());
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(in_module)?;
        Ok(module.into())
    }
}

impl ModuleResolver for JobFolderResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let fail = |message: String| Box::new(EvalAltResult::ErrorRuntime(message.into(), pos));
        let file = self.file_of(path).map_err(fail)?;
        {
            let mut state = self.state();
            if let Some(module) = state.loaded.get(&file) {
                return Ok(module.clone());
            }
            if state.loading.contains(&file) {
                return Err(fail(format!("cannot import \"{path}\": {} imports itself", file.display())));
            }
            if state.loaded.len() + state.loading.len() >= MAX_MODULES {
                return Err(fail(format!(
                    "cannot import \"{path}\": a job file may import at most {MAX_MODULES} modules"
                )));
            }
            state.loading.push(file.clone());
        }
        let loaded = self.load(engine, &file, path, pos);
        let mut state = self.state();
        state.loading.retain(|loading| *loading != file);
        let module = loaded?;
        state.loaded.insert(file, module.clone());
        Ok(module)
    }
}

#[cfg(test)]
#[path = "imports_tests.rs"]
mod tests;
