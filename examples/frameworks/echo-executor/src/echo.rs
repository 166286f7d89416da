//! The echo executor's callbacks: report the task RUNNING on LAUNCH, answer each framework
//! message with `echo: ` and the message, and on KILL report KILLED and stop once that update
//! is acknowledged (or SHUTDOWN comes, or the grace period is nearly over). Each step is a line
//! on stdout.

use std::time::Duration;

use anyhow::anyhow;
use atoll_framework::v1::{ExecutorLaunch, ExecutorSubscribed, TaskState};
use atoll_framework::{Executor, ExecutorDriver};

/// The message the RUNNING update carries.
const UP: &str = "echo executor up";

/// The echo executor.
#[derive(Debug, Default)]
pub struct Echo {
    /// Why the run failed, if it did: the driver is stopped and `main` reports it.
    pub failure: Option<anyhow::Error>,
    /// The uuid of the KILLED update, once sent: its acknowledgement ends the run.
    killed: Option<String>,
}

impl Echo {
    fn fail(&mut self, driver: &ExecutorDriver, failure: anyhow::Error) {
        eprintln!("echo executor: {failure:#}");
        self.failure = Some(failure);
        driver.stop();
    }
}

impl Executor for Echo {
    async fn registered(&mut self, _driver: &ExecutorDriver, info: ExecutorSubscribed) {
        println!(
            "echo executor registered: framework {}, agent {} ({}), sandbox {}",
            info.framework_id, info.agent_id, info.hostname, info.sandbox
        );
    }

    async fn launch_task(&mut self, driver: &ExecutorDriver, task: ExecutorLaunch) {
        println!("launched task {} with data {:?}", task.task_id, String::from_utf8_lossy(&task.data));
        if let Err(error) = driver.update(TaskState::Running, UP).await {
            self.fail(driver, anyhow!(error).context("could not report the task RUNNING"));
        }
    }

    async fn framework_message(&mut self, driver: &ExecutorDriver, data: Vec<u8>) {
        println!("message from the framework: {:?}", String::from_utf8_lossy(&data));
        let answer = echo_of(&data);
        match driver.message(answer.clone()).await {
            Ok(()) => println!("answered: {:?}", String::from_utf8_lossy(&answer)),
            // Messages are best effort both ways: one lost is no reason to stop.
            Err(error) => eprintln!("echo executor: could not answer: {error}"),
        }
    }

    async fn kill_task(&mut self, driver: &ExecutorDriver, task_id: &str, grace: Duration) {
        println!("killing task {task_id} (grace {grace:?})");
        match driver.update(TaskState::Killed, "killed: the echo executor stopped").await {
            Ok(uuid) => self.killed = Some(uuid),
            Err(error) => self.fail(driver, anyhow!(error).context("could not report the task KILLED")),
        }
        // Exit in time even if neither the acknowledgement nor SHUTDOWN comes.
        if !grace.is_zero() {
            let driver = driver.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace.mul_f64(0.8)).await;
                driver.stop();
            });
        }
    }

    async fn acknowledged(&mut self, driver: &ExecutorDriver, _task_id: &str, uuid: &str) {
        if self.killed.as_deref() == Some(uuid) {
            println!("the KILLED update is recorded");
            driver.stop();
        }
    }

    async fn shutdown(&mut self, _driver: &ExecutorDriver, grace: Duration) {
        println!("shutting down (grace {grace:?})");
    }

    async fn error(&mut self, _driver: &ExecutorDriver, message: &str) {
        eprintln!("echo executor: {message}");
    }
}

/// The answer to a framework's message `data`: `echo: ` and the message.
fn echo_of(data: &[u8]) -> Vec<u8> {
    [b"echo: ".as_slice(), data].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_answered_with_echo_and_itself_bytes_and_all() {
        assert_eq!(echo_of(b"ping"), b"echo: ping");
        assert_eq!(echo_of(b""), b"echo: ");
        assert_eq!(echo_of(&[0xff, 0]), [b"echo: ".as_slice(), &[0xff, 0]].concat());
    }
}
