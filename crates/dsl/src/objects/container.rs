//! The container a task runs in: `Docker(#{ image, parameters })` with `Parameter(#{ name,
//! value })`, or `Mesos(#{ image, volumes })` with an `AppcImage` or `DockerImage` and
//! `Volume`s. Accepted, validated and carried; running containers is later work.

use std::sync::Arc;

use atoll_model::config::{Container, DockerParameter, MesosImage, Volume, VolumeMode};
use rhai::Engine;

use super::fields::{FieldReader, ObjectSchema, default, required};
use super::kinds::{ListOf, OneOf, Text, object, object_described};
use super::{Call, register_constructor};
use crate::session::Session;

pub(super) const DOCKER: ObjectSchema = ObjectSchema {
    name: "Docker",
    summary: "A Docker container for the task (accepted, validated and carried; not run yet).",
    fields: &[required("image"), default("parameters", "[]")],
};
pub(super) const PARAMETER: ObjectSchema = ObjectSchema {
    name: "Parameter",
    summary: "A Docker parameter: a name and a value.",
    fields: &[required("name"), required("value")],
};
pub(super) const MESOS: ObjectSchema = ObjectSchema {
    name: "Mesos",
    summary: "A Mesos-containerizer container for the task (accepted, validated and carried; not run yet).",
    fields: &[default("image", "none"), default("volumes", "[]")],
};
pub(super) const APPC_IMAGE: ObjectSchema = ObjectSchema {
    name: "AppcImage",
    summary: "An Appc image for a Mesos container.",
    fields: &[required("name"), required("image_id")],
};
pub(super) const DOCKER_IMAGE: ObjectSchema = ObjectSchema {
    name: "DockerImage",
    summary: "A Docker image for a Mesos container.",
    fields: &[required("name"), required("tag")],
};
pub(super) const VOLUME: ObjectSchema = ObjectSchema {
    name: "Volume",
    summary: "A host path mounted in a Mesos container, read-only (`\"RO\"`) or read-write (`\"RW\"`).",
    fields: &[required("container_path"), required("host_path"), required("mode")],
};

/// How messages name the value of `Mesos.image`.
const MESOS_IMAGE: &str = "an AppcImage or DockerImage";
/// `Volume.mode`'s words.
const MODES: OneOf = OneOf(&["RO", "RW"]);

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_constructor(engine, session, &DOCKER, docker);
    register_constructor(engine, session, &PARAMETER, parameter);
    register_constructor(engine, session, &MESOS, mesos);
    register_constructor(engine, session, &APPC_IMAGE, appc_image);
    register_constructor(engine, session, &DOCKER_IMAGE, docker_image);
    register_constructor(engine, session, &VOLUME, volume);
}

fn docker(call: &Call<'_>, mut fields: FieldReader<'_>) -> Container {
    let container = Container::Docker {
        // A missing image stands in as a named one, so validation adds nothing to the problem.
        image: fields.required("image", Text).unwrap_or_else(|| call.session().stand_in("image")),
        parameters: fields.or("parameters", ListOf(object()), Vec::new()),
    };
    call.report_fields(fields.finish());
    container
}

fn parameter(call: &Call<'_>, mut fields: FieldReader<'_>) -> DockerParameter {
    let parameter = DockerParameter {
        name: fields.required("name", Text).unwrap_or_default(),
        value: fields.required("value", Text).unwrap_or_default(),
    };
    call.report_fields(fields.finish());
    parameter
}

fn mesos(call: &Call<'_>, mut fields: FieldReader<'_>) -> Container {
    let container = Container::Mesos {
        image: fields.optional("image", object_described(MESOS_IMAGE)),
        volumes: fields.or("volumes", ListOf(object()), Vec::new()),
    };
    call.report_fields(fields.finish());
    container
}

fn appc_image(call: &Call<'_>, mut fields: FieldReader<'_>) -> MesosImage {
    let image = MesosImage::Appc {
        name: fields.required("name", Text).unwrap_or_default(),
        image_id: fields.required("image_id", Text).unwrap_or_default(),
    };
    call.report_fields(fields.finish());
    image
}

fn docker_image(call: &Call<'_>, mut fields: FieldReader<'_>) -> MesosImage {
    let image = MesosImage::Docker {
        name: fields.required("name", Text).unwrap_or_default(),
        tag: fields.required("tag", Text).unwrap_or_default(),
    };
    call.report_fields(fields.finish());
    image
}

fn volume(call: &Call<'_>, mut fields: FieldReader<'_>) -> Volume {
    let volume = Volume {
        container_path: fields.required("container_path", Text).unwrap_or_default(),
        host_path: fields.required("host_path", Text).unwrap_or_default(),
        mode: match fields.required("mode", MODES) {
            Some("RW") => VolumeMode::Rw,
            _ => VolumeMode::Ro,
        },
    };
    call.report_fields(fields.finish());
    volume
}

#[cfg(test)]
mod tests {
    use atoll_model::config::{Container, DockerParameter, MesosImage, Volume, VolumeMode};

    use crate::test_support::{diagnostics_of, job_file_with, job_with, messages};

    fn container_of(expression: &str) -> Option<Container> {
        job_with(&format!("container: {expression}")).config.container
    }

    #[test]
    fn docker_takes_an_image_and_parameters() {
        assert_eq!(
            container_of(
                r#"Docker(#{ image: "nginx:{{environment}}", parameters: [Parameter(#{ name: "env", value: "A=1" })] })"#
            ),
            Some(Container::Docker {
                image: "nginx:devel".into(),
                parameters: vec![DockerParameter { name: "env".into(), value: "A=1".into() }],
            })
        );
        assert_eq!(
            container_of(r#"Docker(#{ image: "nginx" })"#),
            Some(Container::Docker { image: "nginx".into(), parameters: Vec::new() })
        );
        assert_eq!(job_with("").config.container, None);
    }

    #[test]
    fn mesos_takes_either_image_kind_and_volumes() {
        assert_eq!(container_of("Mesos(#{})"), Some(Container::Mesos { image: None, volumes: Vec::new() }));
        assert_eq!(
            container_of(
                r#"Mesos(#{ image: AppcImage(#{ name: "web", image_id: "sha512-abc" }),
                           volumes: [Volume(#{ container_path: "/data", host_path: "/srv/data", mode: "RW" }),
                                     Volume(#{ container_path: "/etc/x", host_path: "/etc/x", mode: "RO" })] })"#
            ),
            Some(Container::Mesos {
                image: Some(MesosImage::Appc { name: "web".into(), image_id: "sha512-abc".into() }),
                volumes: vec![
                    Volume { container_path: "/data".into(), host_path: "/srv/data".into(), mode: VolumeMode::Rw },
                    Volume { container_path: "/etc/x".into(), host_path: "/etc/x".into(), mode: VolumeMode::Ro },
                ],
            })
        );
        assert_eq!(
            container_of(r#"Mesos(#{ image: DockerImage(#{ name: "web", tag: "1.0" }) })"#),
            Some(Container::Mesos {
                image: Some(MesosImage::Docker { name: "web".into(), tag: "1.0".into() }),
                volumes: Vec::new()
            })
        );
    }

    #[test]
    fn container_fields_are_checked() {
        let source = job_file_with(
            r#"container: Mesos(#{ image: "web", volumes: [Volume(#{ container_path: "/a", host_path: "/b", mode: "rw" })] })"#,
        );
        assert_eq!(
            messages(&diagnostics_of(&source)),
            vec![
                "Mesos field 'image' must be an AppcImage or DockerImage, not a string",
                "Volume field 'mode' must be one of \"RO\", \"RW\", not \"rw\"",
            ]
        );
        let source = job_file_with("container: Docker(#{ parameters: [Parameter(#{ name: \"x\" })] })");
        assert_eq!(
            messages(&diagnostics_of(&source)),
            vec!["Docker is missing required field 'image'", "Parameter is missing required field 'value'"]
        );
        let source = job_file_with("container: AppcImage(#{ name: \"a\", image_id: \"b\" })");
        assert_eq!(
            messages(&diagnostics_of(&source)),
            vec!["Job field 'container' must be a Docker or Mesos container, not a MesosImage"]
        );
    }
}
