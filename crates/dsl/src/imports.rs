//! `import "lib" as lib;`: modules come from the job file's folder and nowhere else, besides the
//! ones Atoll ships (`import "atoll/http" as http;`, see `bundled`), which are compiled in.
//!
//! `"lib"` and `"lib/common"` name `lib.rhai` and `lib/common.rhai` in that folder. Absolute
//! paths, `..`, and links that lead outside the folder are refused; so is every import of a file
//! when the job file was not read from a folder. Each module is evaluated once per evaluation,
//! with the same limits as the job file, and its text kept in the session (to place its
//! problems at their fields); an import cycle and more than [`MAX_MODULES`] modules are errors.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

use crate::bundled;
use crate::sandbox::MAX_MODULES;
use crate::session::Session;
use crate::units;

/// The extension of job files and modules.
const EXTENSION: &str = "rhai";
/// The largest module file read, in bytes.
const MAX_MODULE_BYTES: u64 = 1 << 20;
/// Why an import that leaves the folder is refused.
const ONLY_INSIDE: &str = "imports resolve only inside the job file's folder";

/// Resolves imports in one job file's folder, and Atoll's own modules.
pub(crate) struct JobFolderResolver {
    folder: Option<PathBuf>,
    session: Arc<Session>,
    state: Mutex<State>,
}

/// A module: one of Atoll's, by name, or a file in the job file's folder.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ModuleKey {
    Bundled(String),
    File(PathBuf),
}

impl ModuleKey {
    /// The name diagnostics give the module.
    fn shown(&self) -> String {
        match self {
            ModuleKey::Bundled(name) => bundled::shown(name),
            ModuleKey::File(file) => file.display().to_string(),
        }
    }
}

#[derive(Default)]
struct State {
    /// Modules evaluated so far.
    loaded: BTreeMap<ModuleKey, Shared<Module>>,
    /// Modules being evaluated, outermost first, to catch a cycle.
    loading: Vec<ModuleKey>,
}

impl JobFolderResolver {
    pub(crate) fn new(folder: Option<&Path>, session: &Arc<Session>) -> JobFolderResolver {
        JobFolderResolver {
            folder: folder.map(Path::to_path_buf),
            session: Arc::clone(session),
            state: Mutex::new(State::default()),
        }
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

    /// The module `path` names: one of Atoll's, or a file checked to be inside the folder.
    fn key_of(&self, path: &str) -> Result<ModuleKey, String> {
        if path.starts_with(bundled::PREFIX) {
            bundled::source(path)?;
            return Ok(ModuleKey::Bundled(path.to_owned()));
        }
        self.file_of(path).map(ModuleKey::File)
    }

    /// Reads `file`, refusing one too large to be a module.
    fn read(file: &Path, path: &str) -> Result<String, String> {
        let shown = file.display();
        let size = std::fs::metadata(file).map_err(|error| format!("cannot import \"{path}\": {shown}: {error}"))?;
        if size.len() > MAX_MODULE_BYTES {
            return Err(format!("cannot import \"{path}\": {shown} is larger than {MAX_MODULE_BYTES} bytes"));
        }
        std::fs::read_to_string(file).map_err(|error| format!("cannot import \"{path}\": {shown}: {error}"))
    }

    /// Reads, compiles and evaluates the module `key`, which the job file calls `path`.
    fn load(
        &self,
        engine: &Engine,
        key: &ModuleKey,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let fail = |message: String| Box::new(EvalAltResult::ErrorRuntime(message.into(), pos));
        let source = match key {
            ModuleKey::Bundled(name) => bundled::source(name).map(str::to_owned),
            ModuleKey::File(file) => Self::read(file, path),
        }
        .map_err(fail)?;
        let shown = key.shown();
        self.session.add_source(&shown, &source);
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
        let key = self.key_of(path).map_err(fail)?;
        {
            let mut state = self.state();
            if let Some(module) = state.loaded.get(&key) {
                return Ok(module.clone());
            }
            if state.loading.contains(&key) {
                return Err(fail(format!("cannot import \"{path}\": {} imports itself", key.shown())));
            }
            if state.loaded.len() + state.loading.len() >= MAX_MODULES {
                return Err(fail(format!(
                    "cannot import \"{path}\": a job file may import at most {MAX_MODULES} modules"
                )));
            }
            state.loading.push(key.clone());
        }
        let loaded = self.load(engine, &key, path, pos);
        let mut state = self.state();
        state.loading.retain(|loading| *loading != key);
        let module = loaded?;
        state.loaded.insert(key, module.clone());
        Ok(module)
    }
}

#[cfg(test)]
#[path = "imports_tests.rs"]
mod tests;
