DROP TABLE project_data;
DROP TABLE projects;
